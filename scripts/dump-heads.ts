/**
 * Every repo's head as `repo -> path -> content hash`, to show a change left the outputs byte-identical.
 *
 *   node --import tsx scripts/dump-heads.ts --cohort DIR -o heads.json   # run the reproducible cohort, then dump
 *   node --import tsx scripts/dump-heads.ts --home TESSELLA_HOME -o heads.json  # dump a store as it is
 *   node --import tsx scripts/dump-heads.ts --compare a.json b.json       # exit 1 and list what differs
 *
 * The cohort is the one of test/stories/reproducible.test.ts (two real slides, one corrupt one, test models),
 * every stage run from the sources through tsx.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { filesOf, headOf } from '../engine/pfs/commits.js';
import { listRepos } from '../engine/pfs/repos.js';
import { pipelineNamesIn } from '../app/spec-folder.js';
import { Store } from '../engine/store/store.js';
import { buildModels } from './models/build.js';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const COHORT_SLIDES = ['cmu-1-small-region.pyramid.tiff', 'os-1-detail.pyramid.tiff', 'unreadable.svs'];
export const PIPELINES = pipelineNamesIn(join(projectRoot, 'pipelines')).sort();

export type Heads = Record<string, Record<string, string>>;

/** The first of the cohort's slides missing from `fixtures/slides` under `sharedDir`, or undefined. */
export function missingSlide(sharedDir: string): string | undefined {
  return COHORT_SLIDES.find((s) => !existsSync(join(sharedDir, 'fixtures/slides', s)));
}

/**
 * Runs the cohort in a fresh store, `<dir>/<name>/home` (the inputs are made under `dir` once), with `env` added to
 * the engine's; returns that home.
 */
export function runCohort(dir: string, sharedDir: string, name = 'store', env: Record<string, string> = {}): string {
  const specs = join(dir, 'pipelines');
  const slides = join(dir, 'slides');
  const models = join(dir, 'models');
  if (!existsSync(specs)) {
    mkdirSync(specs, { recursive: true });
    for (const p of PIPELINES) {
      // run the stages from the sources, so no build is needed
      const text = readFileSync(join(projectRoot, 'pipelines', `${p}.yaml`), 'utf8').replace(
        /\[\s*"?node"?\s*,\s*"?dist\/stages\/([\w-]+)\/main\.js"?\s*\]/,
        (_m, stage: string) => `["node", "--import", "tsx", "stages/${stage}/main.ts"]`,
      );
      writeFileSync(join(specs, `${p}.yaml`), text);
    }
    for (const s of COHORT_SLIDES) {
      const id = s.split('.')[0];
      mkdirSync(join(slides, id), { recursive: true });
      writeFileSync(join(slides, id, s), readFileSync(join(sharedDir, 'fixtures/slides', s)));
    }
    writeFileSync(
      join(dir, 'manifest.csv'),
      // one row gives a resolution, so manifest-mpp has a file (tile-detect ignores it: physical tiles are off)
      'image_id,patient_id,center_id,label,mpp\ncmu-1-small-region,p1,1,CE,0.499\nos-1-detail,p2,2,LAA,\nunreadable,p3,1,CE,\n',
    );
    buildModels({ out: models, normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
  }
  const home = join(dir, `${name}`, 'home');
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'app', 'cli.ts'), ...args], {
      cwd: projectRoot,
      env: { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json', TESSELLA_GPUS: '', ...env },
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`tessella ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-4000)}`);
  };
  run('init', '--pipelines', specs);
  run('put', 'file', 'slides@master:/', '-r', '-f', slides);
  run('put', 'file', 'manifest@master:/manifest.csv', '-f', join(dir, 'manifest.csv'));
  for (const task of readdirSync(models)) run('put', 'file', `models@master:/${task}`, '-r', '-f', join(models, task));
  run('run');
  return home;
}

/** repo -> path -> content hash of the master head, every repo of the store at `home` */
export function headsOf(home: string): Heads {
  const s = Store.open(home);
  try {
    const repos = listRepos(s)
      .map((r) => r.name)
      .sort();
    return Object.fromEntries(
      repos.map((repo) => {
        const head = headOf(s, repo, 'master');
        return [repo, head ? Object.fromEntries(filesOf(s, head.seq).map((f) => [f.path, f.hash])) : {}];
      }),
    );
  } finally {
    s.close();
  }
}

/** One line per difference: a repo or path on one side only, or a path whose hash differs. */
export function compareHeads(a: Heads, b: Heads): string[] {
  const out: string[] = [];
  for (const repo of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (!a[repo] || !b[repo]) {
      out.push(`${repo}: only in ${a[repo] ? 'the first' : 'the second'}`);
      continue;
    }
    for (const path of [...new Set([...Object.keys(a[repo]), ...Object.keys(b[repo])])].sort()) {
      const [x, y] = [a[repo][path], b[repo][path]];
      if (x !== y) out.push(`${repo}${path}: ${x ?? '-'} != ${y ?? '-'}`);
    }
  }
  return out;
}

function main(): number {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      cohort: { type: 'string' },
      home: { type: 'string' },
      compare: { type: 'boolean', default: false },
      shared: { type: 'string', default: resolve(projectRoot, '../shared') },
      o: { type: 'string' },
    },
  });
  if (values.compare) {
    if (positionals.length !== 2) throw new Error('--compare takes two heads files');
    const [a, b] = positionals.map((p) => JSON.parse(readFileSync(p, 'utf8')) as Heads);
    const diff = compareHeads(a, b);
    const files = Object.values(a).reduce((n, r) => n + Object.keys(r).length, 0);
    const verdict = `identical: ${Object.keys(a).length} repos, ${files} files`;
    process.stdout.write((diff.length ? diff.join('\n') : verdict) + '\n');
    return diff.length ? 1 : 0;
  }
  if (!values.o || !(values.cohort || values.home)) {
    throw new Error('usage: dump-heads.ts (--cohort DIR | --home HOME) -o OUT.json | --compare A.json B.json');
  }
  let home = values.home;
  if (values.cohort) {
    const missing = missingSlide(values.shared!);
    if (missing) throw new Error(`the cohort needs ${join(values.shared!, 'fixtures/slides', missing)}`);
    home = runCohort(resolve(values.cohort), values.shared!);
  }
  writeFileSync(values.o, JSON.stringify(headsOf(resolve(home!)), null, 1) + '\n');
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
