/**
 * What keeping a datum from the store costs, per datum, on one big slide: TESSELLA_ISOLATION=namespace (inputs
 * hard-linked, the store mounted read-only for the datum) against copy (inputs copied, a reflink where the file
 * system has them), for a datum that does nothing with its input, one that reads it all, and the real
 * tile-detect stage (`npm run build` first).
 *
 *   node --import tsx scripts/bench/isolation.ts --slide /data/big.tif [--home DIR] [--repeat 2]
 *
 * Prints one JSON line per (pipeline, mode, try) with the datum's seconds as the engine recorded them
 * (mounting, the process, ingesting), then the median per pipeline and mode.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: { slide: { type: 'string' }, home: { type: 'string' }, repeat: { type: 'string', default: '2' } },
});
if (!values.slide) {
  process.stderr.write('usage: isolation.ts --slide FILE [--home DIR] [--repeat N]\n');
  process.exit(2);
}
const slide = values.slide;
const repeat = Number(values.repeat);
const work = values.home ?? mkdtempSync(join(tmpdir(), 'tessella-bench-isolation-'));
const home = join(work, 'home');
const app = appDir();

function tessella(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [join(app, 'bin', 'tessella.js'), ...args], {
    cwd: app,
    env: { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json', ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`tessella ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const PIPELINES: Record<string, string> = {
  noop: `pipeline: { name: noop }
input: { pfs: { name: slides, repo: slides, glob: "/*" } }
transform:
  cmd: [sh]
  stdin: ["echo ok > /pfs/out/ok"]
`,
  read: `pipeline: { name: read }
input: { pfs: { name: slides, repo: slides, glob: "/*" } }
transform:
  cmd: [sh]
  stdin: ["cat /pfs/slides/*/* > /dev/null", "echo ok > /pfs/out/ok"]
`,
};

const id = basename(slide).replace(/\.[^.]+$/, '');
tessella(['create', 'repo', 'slides']);
// tile-detect joins manifest-mpp's /mpp (the manifest's resolutions): the pipeline must exist; with no manifest it
// never runs and the join gives every slide alone.
tessella(['create', 'repo', 'manifest']);
tessella(['create', 'pipeline', '-f', join(app, 'pipelines', 'manifest-mpp.yaml')]);
tessella(['put', 'file', `slides@master:/${id}/${basename(slide)}`, '-f', slide]);
for (const [name, text] of Object.entries(PIPELINES)) {
  writeFileSync(join(work, `${name}.yaml`), text);
}
const specs = {
  ...Object.fromEntries(Object.keys(PIPELINES).map((n) => [n, join(work, `${n}.yaml`)])),
  'tile-detect': join(app, 'pipelines', 'tile-detect.yaml'),
};
const results: { pipeline: string; mode: string; seconds: number }[] = [];
let created = false;
for (let i = 0; i < repeat; i++) {
  for (const mode of ['namespace', 'copy']) {
    for (const [_name, file] of Object.entries(specs)) {
      tessella([created ? 'update' : 'create', 'pipeline', '-f', file, ...(created ? ['--reprocess'] : [])]);
    }
    created = true;
    tessella(['run'], { TESSELLA_ISOLATION: mode });
    for (const name of Object.keys(specs)) {
      const [job] = tessella(['list', 'job', '-p', name, '-o', 'json'])
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const [datum] = tessella(['list', 'datum', `${name}@${job.job.id}`, '-o', 'json'])
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const row = { pipeline: name, mode, try: i + 1, state: datum.state, seconds: datum.seconds };
      process.stdout.write(JSON.stringify(row) + '\n');
      results.push({ pipeline: name, mode, seconds: datum.seconds });
    }
  }
}
const summary: Record<string, Record<string, number>> = {};
for (const r of results) {
  summary[r.pipeline] ??= {};
  summary[r.pipeline][r.mode] = median(
    results.filter((x) => x.pipeline === r.pipeline && x.mode === r.mode).map((x) => x.seconds),
  );
}
for (const s of Object.values(summary)) s.copy_minus_namespace_s = Math.round((s.copy - s.namespace) * 1000) / 1000;
process.stdout.write(JSON.stringify({ slide_bytes: statSync(slide).size, median_seconds: summary }) + '\n');
if (!values.home) rmSync(work, { recursive: true, force: true });
