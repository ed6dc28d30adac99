/**
 * What a datum costs beyond its own work, with and without datum batching: N small datums in one commit, one job
 * of a Node stage on the project's stage frame (shared/stage-main.ts, from dist/) that reads its input and writes
 * one file. Prints wall ms per datum and the machine's busy CPU ms per datum (/proc/stat; run it on a quiet
 * machine), for a process per datum (TESSELLA_DATUM_BATCHING=off) and for batching, on every core.
 *
 *   npm run build && node --import tsx scripts/bench/datum-batching.ts [--n 5000] [--n-off 300] [--dir DIR]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { createRepo } from '../../engine/pfs/repos.js';
import { putFiles } from '../../engine/pfs/put-files.js';
import { putPipelines } from '../../engine/pps/pipelines.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { Store } from '../../engine/store/store.js';
import { Logger } from '../../shared/log.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '5000' },
    'n-off': { type: 'string', default: '300' },
    dir: { type: 'string' },
  },
});
const base = values.dir ?? mkdtempSync(join(tmpdir(), 'tessella-batching-'));
mkdirSync(base, { recursive: true });
process.env.TESSELLA_FSYNC ??= '0';
const quiet = new Logger('bench', {}, { isTTY: false, write: () => undefined });

const stage = join(base, 'copy-stage.mjs');
writeFileSync(
  stage,
  `import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stageMain } from ${JSON.stringify(join(appDir(), 'dist/shared/stage-main.js'))};
stageMain('copy', ({ env }) => {
  const dir = process.env.in;
  for (const f of readdirSync(dir)) writeFileSync(join(env.outDir, f + '-' + process.env.PACH_DATUM_ID.slice(0, 8)), readFileSync(join(dir, f)));
});
`,
);

/**
 * Busy CPU seconds of the whole machine (/proc/stat: user, nice, system, irq, softirq): a batch process is killed
 * at the job's end, so its CPU never reaches this process's children's times.
 */
function cpuSeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / 100;
}

async function measure(n: number, batching: boolean): Promise<Record<string, number>> {
  const dir = join(base, `${batching ? 'on' : 'off'}-${n}`);
  rmSync(dir, { recursive: true, force: true });
  const local = join(dir, 'files');
  const items = [];
  for (let i = 0; i < n; i++) {
    mkdirSync(join(local, String(i)), { recursive: true });
    writeFileSync(join(local, String(i), 'x'), `datum ${i}\n`);
    items.push({ local: join(local, String(i), 'x'), path: `/${i}/x` });
  }
  const store = Store.open(join(dir, 'home'));
  createRepo(store, 'in');
  await putFiles(store, 'in', 'master', items);
  putPipelines(
    store,
    parseSpecs(
      `pipeline: { name: copy }
input: { pfs: { repo: in, glob: "/*" } }
transform:
  cmd: [node, ${JSON.stringify(stage)}]
  datumBatching: true
parallelismSpec: { constant: ${availableParallelism()} }
`,
      'copy.yaml',
    ),
  );
  process.env.TESSELLA_DATUM_BATCHING = batching ? 'spec' : 'off';
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const [r] = await runJobs(store, { log: quiet });
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  store.close();
  if (r.state !== 'success' || r.processed !== n) throw new Error(`job ${r.state}: ${r.reason}`);
  rmSync(dir, { recursive: true, force: true });
  return {
    datums: n,
    wall_s: Math.round(wall * 10) / 10,
    wall_ms_per_datum: Math.round((wall / n) * 1000 * 10) / 10,
    cpu_ms_per_datum: Math.round((cpu / n) * 1000 * 10) / 10,
  };
}

const off = await measure(Number(values['n-off']), false);
const on = await measure(Number(values.n), true);
const onSmall = await measure(Number(values['n-off']), true);
console.log(`${availableParallelism()} cores, one job, parallelism = cores`);
console.log('| | datums | wall s | wall ms / datum | machine CPU ms / datum |');
console.log('|---|---|---|---|---|');
for (const [name, m] of [
  ['a process per datum', off],
  ['datum batching', onSmall],
  ['datum batching', on],
] as const)
  console.log(`| ${name} | ${m.datums} | ${m.wall_s} | ${m.wall_ms_per_datum} | ${m.cpu_ms_per_datum} |`);
console.log(JSON.stringify({ per_process: off, batching: [onSmall, on] }));
if (!values.dir) rmSync(base, { recursive: true, force: true });
