/**
 * `tessella demo`: a cohort end to end on the embedded engine, then the two stories a Pachyderm user cares about:
 * a new slide committed (only it is processed), and a new embed model committed (only embed and the merge-* pipelines re-run).
 * With --slides/--manifest/--models it runs the user's own cohort instead.
 * Everything goes through the tessella CLI, exactly as a user would type it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MODEL_CARD_FILE, MODEL_FILE, REPORT_HTML, REPORT_MD } from '../../shared/contract/files.js';
import { appDir } from '../../engine/app-dir.js';
import { pipelineNamesIn } from '../spec-folder.js';
import { engineEnv } from '../../engine/env.js';
import { makeDemoCohort, makeNewEmbedModel } from './cohort.js';

interface JobCounts {
  processed: number;
  skipped: number;
  failed: number;
}
type StoryCounts = Record<string, JobCounts>;

const PIPELINES = pipelineNamesIn();

class Cli {
  constructor(
    readonly env: NodeJS.ProcessEnv,
    readonly cwd: string,
  ) {}

  /** Run a tessella verb; progress goes to the terminal. */
  run(args: string[], quiet = false): void {
    if (!quiet) process.stderr.write(`$ tessella ${args.join(' ')}\n`);
    const r = spawnSync(process.execPath, [join(appDir(), 'bin', 'tessella.js'), ...args], {
      cwd: this.cwd,
      env: this.env,
      stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`tessella ${args.join(' ')} failed (exit ${r.status})`);
  }

  /** A verb's `-o json` output: one JSON object per line, as pachctl prints it. */
  jsonLines<T>(args: string[]): T[] {
    const r = spawnSync(process.execPath, [join(appDir(), 'bin', 'tessella.js'), ...args, '-o', 'json'], {
      cwd: this.cwd,
      env: this.env,
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    });
    if (r.status !== 0) throw new Error(`tessella ${args.join(' ')} -o json failed: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as T);
  }
}

interface JobJson {
  job: { pipeline: string; id: string };
  state: string;
  data_processed: number;
  data_skipped: number;
  data_failed: number;
}

function jobIds(cli: Cli): Set<string> {
  return new Set(cli.jsonLines<JobJson>(['list', 'job']).map((j) => j.job.id));
}

/** Datums processed/skipped per pipeline over the jobs that are not in `before`. */
function countsSince(cli: Cli, before: Set<string>): StoryCounts {
  const counts: StoryCounts = {};
  for (const p of PIPELINES) counts[p] = { processed: 0, skipped: 0, failed: 0 };
  for (const j of cli.jsonLines<JobJson>(['list', 'job'])) {
    const c = counts[j.job.pipeline];
    if (before.has(j.job.id) || !c) continue;
    c.processed += j.data_processed;
    c.skipped += j.data_skipped;
    c.failed += j.data_failed;
  }
  return counts;
}

function printCounts(title: string, counts: StoryCounts): void {
  const w = Math.max(...PIPELINES.map((p) => p.length));
  process.stdout.write(`\n${title}\n  ${'pipeline'.padEnd(w)}  processed  skipped\n`);
  for (const p of PIPELINES) {
    const c = counts[p];
    process.stdout.write(`  ${p.padEnd(w)}  ${String(c.processed).padStart(9)}  ${String(c.skipped).padStart(7)}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: 'demo-out' },
      slides: { type: 'string' },
      manifest: { type: 'string' },
      models: { type: 'string' },
      patients: { type: 'string', default: '6' },
      'slide-size': { type: 'string', default: '6000' },
      'no-fixtures': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'Usage: tessella demo [--out DIR] [--patients N] [--slide-size PX] [--no-fixtures]\n' +
        '       tessella demo --slides DIR --manifest CSV --models DIR [--out DIR]\n' +
        '  Runs a cohort end to end on the embedded engine (store in OUT/.tessella unless TESSELLA_HOME is set).\n' +
        '  Without --slides: a synthetic demo cohort, then a new slide and a new embed model committed, with counts.\n',
    );
    return 0;
  }
  const own = [values.slides, values.manifest, values.models];
  if (own.some(Boolean) && !own.every(Boolean)) {
    process.stderr.write(
      'tessella demo: --slides, --manifest and --models go together (a folder, a CSV, a folder with normalize/ and embed/)\n',
    );
    return 2;
  }
  const out = resolve(values.out!);
  const givenHome = engineEnv().TESSELLA_HOME;
  const home = givenHome ? resolve(givenHome) : join(out, '.tessella');
  const cli = new Cli({ ...process.env, TESSELLA_HOME: home }, appDir());
  const started = performance.now();

  let slidesDir: string, manifest: string, modelsDir: string;
  let cohort: Awaited<ReturnType<typeof makeDemoCohort>> | undefined;
  if (values.slides) {
    slidesDir = resolve(values.slides);
    manifest = resolve(values.manifest!);
    modelsDir = resolve(values.models!);
    for (const [what, p] of [
      ['--slides', slidesDir],
      ['--manifest', manifest],
      ['--models', modelsDir],
    ] as const) {
      if (!existsSync(p)) throw new Error(`${what} ${p} does not exist`);
    }
    mkdirSync(out, { recursive: true });
  } else {
    const patients = Number(values.patients);
    const size = Number(values['slide-size']);
    if (!Number.isInteger(patients) || patients < 1)
      throw new Error(`--patients: expected a positive integer, got '${values.patients}'`);
    if (!Number.isInteger(size) || size < 448)
      throw new Error(`--slide-size: expected an integer >= 448, got '${values['slide-size']}'`);
    rmSync(home, { recursive: true, force: true });
    process.stderr.write(
      `making the demo cohort in ${join(out, 'cohort')} (${patients} patients, ${size} px slides)\n`,
    );
    cohort = await makeDemoCohort(
      {
        dir: join(out, 'cohort'),
        patients,
        slideSize: size,
        sharedDir: values['no-fixtures'] ? undefined : resolve(appDir(), '..', 'shared'),
        seed: 7,
      },
      (id) => process.stderr.write(`  slide ${id}\n`),
    );
    ({ slidesDir, manifest, modelsDir } = cohort);
  }

  cli.run(['init']);
  cli.run(['add', 'slides', slidesDir]);
  cli.run(['put', 'file', 'manifest@master:/manifest.csv', '-f', manifest]);
  cli.run(['put', 'file', 'models@master:/', '-f', modelsDir, '-r']);
  cli.run(['run']);
  const first = countsSince(cli, new Set());
  printCounts('First run: the whole cohort', first);

  const summary: Record<string, unknown> = { first };
  if (cohort) {
    let since = jobIds(cli);
    const { id, file } = cohort.heldBack;
    cli.run(['put', 'file', `slides@master:/${id}/${basename(file)}`, '-f', file]);
    cli.run(['run']);
    const newSlide = countsSince(cli, since);
    printCounts(`Story 1: a new slide (${id}) committed: only it is processed, then merge`, newSlide);

    since = jobIds(cli);
    const embedDir = makeNewEmbedModel(join(out, 'cohort', 'models-v2'), 2);
    cli.run(['put', 'file', `models@master:/embed/${MODEL_FILE}`, '-f', join(embedDir, MODEL_FILE)], true);
    cli.run(['put', 'file', `models@master:/embed/${MODEL_CARD_FILE}`, '-f', join(embedDir, MODEL_CARD_FILE)]);
    cli.run(['run']);
    const newModel = countsSince(cli, since);
    printCounts(
      'Story 2: a new embed model committed: embed re-runs every slide, then merge; nothing upstream',
      newModel,
    );
    Object.assign(summary, { newSlide, newModel, heldBack: id, slides: cohort.slides, patients: cohort.patients });
  }

  // Export what a person opens first.
  const datasetDir = join(out, 'dataset');
  const qcDir = join(out, 'tile-detect');
  rmSync(datasetDir, { recursive: true, force: true });
  rmSync(qcDir, { recursive: true, force: true });
  cli.run(['get', 'file', 'merge@master:/', '-r', '-o', datasetDir], true);
  cli.run(['get', 'file', 'tile-detect@master:/', '-r', '-o', qcDir], true);
  summary.seconds = Math.round((performance.now() - started) / 100) / 10;
  summary.dataset = datasetDir;
  writeFileSync(join(out, 'demo-summary.json'), JSON.stringify(summary, null, 2) + '\n');

  process.stdout.write(
    `\nDone in ${summary.seconds} s.\n` +
      `  dataset (TFRecords, dataset.json, splits.csv): ${datasetDir}\n` +
      `  report:                                       ${join(datasetDir, REPORT_MD)}
` +
      `  cohort QC page (open in a browser):            ${join(datasetDir, REPORT_HTML)}
` +
      `  QC pictures (thumbnail, tile overlay, GeoJSON): ${qcDir}/<slide>/qc/\n` +
      `  the engine's store (TESSELLA_HOME):           ${home}\n` +
      `  look around: TESSELLA_HOME=${home} npx tessella list job\n` +
      `               npx tessella dataset ${datasetDir}\n`,
  );
  return 0;
}
