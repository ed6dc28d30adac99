/**
 * The two incremental stories against their references (DESIGN.md's performance table), through the CLI as a
 * user runs it, for cohorts of several sizes N:
 *   1. a new slide into a processed cohort of N: `tessella run` after committing it, against processing that slide
 *      alone (the five per-slide stages in a store holding only it) + merge over the cohort (target <= 1.2x,
 *      independent of N);
 *   2. a new embed model: `tessella run` after committing it, against embed alone over the cohort (each slide's
 *      embed stage run directly, no engine) (target <= 1.1x; 0 datums upstream). Merge is reported apart.
 *
 *   npm run build && node --import tsx scripts/bench/incremental.ts [--cohorts 4,16] [--size 2400] [--dir DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { tessella } from './tessella-cli.js';
import { buildModels } from '../models/build.js';
import { makeSyntheticSlide } from '../synthetic-slide.js';

const { values } = parseArgs({
  options: {
    cohorts: { type: 'string', default: '4,16' },
    size: { type: 'string', default: '2400' },
    dir: { type: 'string' },
  },
});
const cohorts = values.cohorts!.split(',').map(Number);
const size = Number(values.size);
const base = values.dir ?? mkdtempSync(join(tmpdir(), 'tessella-incr-'));
const root = appDir();
const PER_SLIDE = ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram'];

interface Job {
  job: { pipeline: string; id: string };
  started: string | null;
  finished: string | null;
  data_processed: number;
  data_skipped: number;
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function jobs(home: string): Job[] {
  return tessella(home, ['list', 'job', '-o', 'json'])
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Job);
}

const jobSeconds = (j: Job) => (j.started && j.finished ? (Date.parse(j.finished) - Date.parse(j.started)) / 1000 : 0);

/** Jobs of `home` not in `before`, by pipeline: processed datums and seconds. */
function newJobs(home: string, before: Set<string>): Record<string, { processed: number; seconds: number }> {
  const out: Record<string, { processed: number; seconds: number }> = {};
  for (const j of jobs(home)) {
    if (before.has(j.job.id)) continue;
    const o = (out[j.job.pipeline] ??= { processed: 0, seconds: 0 });
    o.processed += j.data_processed;
    o.seconds += jobSeconds(j);
  }
  return out;
}

function setUpStore(home: string, slidesDir: string, manifest: string, models: string): void {
  rmSync(home, { recursive: true, force: true });
  tessella(home, ['init']);
  tessella(home, ['add', 'slides', slidesDir]);
  tessella(home, ['put', 'file', 'manifest@master:/manifest.csv', '-f', manifest]);
  tessella(home, ['put', 'file', 'models@master:/', '-f', models, '-r']);
}

/** Run the embed stage directly on every slide of the store's normalize output: the "embed alone" reference. */
function embedAlone(home: string, work: string, slideIds: string[]): number {
  const pfs = join(work, 'pfs');
  rmSync(pfs, { recursive: true, force: true });
  tessella(home, ['get', 'file', 'normalize@master:/', '-r', '-o', join(pfs, 'normalize')]);
  tessella(home, ['get', 'file', 'models@master:/embed', '-r', '-o', join(pfs, 'models', 'embed')]);
  let total = 0;
  for (const id of slideIds) {
    rmSync(join(pfs, 'out'), { recursive: true, force: true });
    mkdirSync(join(pfs, 'out'), { recursive: true });
    total += timed(() => {
      const r = spawnSync(process.execPath, [join(root, 'dist', 'stages', 'embed', 'main.js')], {
        cwd: root,
        env: {
          ...process.env,
          PFS_ROOT: pfs,
          normalize: join(pfs, 'normalize', id),
          models: join(pfs, 'models', 'embed'),
          TESSELLA_LOG_FORMAT: 'json',
        },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`embed on ${id}: ${r.stderr.slice(-2000)}`);
    });
  }
  return total;
}

const results: unknown[] = [];
for (const n of cohorts) {
  const dir = join(base, `n${n}`);
  const slidesDir = join(dir, 'slides');
  const laterDir = join(dir, 'later');
  mkdirSync(slidesDir, { recursive: true });
  mkdirSync(laterDir, { recursive: true });
  const rows = ['image_id,patient_id,center_id,label'];
  for (let i = 0; i <= n; i++) {
    const id = `S${String(i).padStart(4, '0')}`;
    await makeSyntheticSlide({
      path: join(i === n ? laterDir : slidesDir, `${id}.tiff`),
      width: size,
      height: size,
      seed: 100 + i,
      tissueFraction: 0.4,
      pyramid: true,
    });
    const p = Math.floor(i / 2);
    rows.push(`${id},P${p},${p % 3},${p % 2 ? 'LAA' : 'CE'}`);
  }
  const manifest = join(dir, 'manifest.csv');
  writeFileSync(manifest, rows.join('\n') + '\n');
  const models = join(dir, 'models');
  buildModels({ out: models, normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
  const newId = `S${String(n).padStart(4, '0')}`;

  // Store A: the cohort of N, processed; then the new slide.
  const homeA = join(dir, 'store-a');
  setUpStore(homeA, slidesDir, manifest, models);
  tessella(homeA, ['run']);
  let before = new Set(jobs(homeA).map((j) => j.job.id));
  tessella(homeA, ['put', 'file', `slides@master:/${newId}/${newId}.tiff`, '-f', join(laterDir, `${newId}.tiff`)]);
  const tIncr = timed(() => tessella(homeA, ['run']));
  const incrJobs = newJobs(homeA, before);

  // Store B: the new slide alone (its merge covers one slide; the cohort's merge comes from store A).
  const homeB = join(dir, 'store-b');
  const aloneDir = join(dir, 'alone');
  mkdirSync(aloneDir, { recursive: true });
  spawnSync('cp', [join(laterDir, `${newId}.tiff`), aloneDir]);
  setUpStore(homeB, aloneDir, manifest, models);
  const tAloneAll = timed(() => tessella(homeB, ['run']));
  const aloneJobs = newJobs(homeB, new Set());
  const tAloneStages = tAloneAll - (aloneJobs.merge?.seconds ?? 0);
  const reference1 = tAloneStages + (incrJobs.merge?.seconds ?? 0);

  // The new embed model.
  before = new Set(jobs(homeA).map((j) => j.job.id));
  const v2 = join(dir, 'models-v2');
  buildModels({ out: v2, normalize: 'none', shift: [0, 0, 0], embed: 'tiny', seed: 2 });
  tessella(homeA, ['put', 'file', 'models@master:/embed', '-f', join(v2, 'embed'), '-r']);
  const tSwap = timed(() => tessella(homeA, ['run']));
  const swapJobs = newJobs(homeA, before);
  const ids = Array.from({ length: n + 1 }, (_, i) => `S${String(i).padStart(4, '0')}`);
  const tEmbedAlone = embedAlone(homeA, dir, ids);
  const mergeSwap = swapJobs.merge?.seconds ?? 0;
  const upstream = ['tile-detect', 'tile-extract', 'normalize', 'histogram'].reduce(
    (s, p) => s + (swapJobs[p]?.processed ?? 0),
    0,
  );

  const r = {
    cohort: n,
    slide_px: size,
    new_slide: {
      run_s: round(tIncr),
      slide_alone_s: round(tAloneStages),
      merge_s: round(incrJobs.merge?.seconds ?? 0),
      ratio: round(tIncr / reference1),
      datums_processed: Object.fromEntries(PER_SLIDE.map((p) => [p, incrJobs[p]?.processed ?? 0])),
    },
    new_embed_model: {
      run_s: round(tSwap),
      embed_alone_s: round(tEmbedAlone),
      merge_s: round(mergeSwap),
      ratio_without_merge: round((tSwap - mergeSwap) / tEmbedAlone),
      upstream_datums_processed: upstream,
      embed_datums_processed: swapJobs.embed?.processed ?? 0,
    },
  };
  results.push(r);
  console.log(JSON.stringify(r));
}
if (!values.dir) rmSync(base, { recursive: true, force: true });

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
