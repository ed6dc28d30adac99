/**
 * What the end-to-end benchmarks share (e2e.ts, vs-peer.ts): the bench slide, a fresh store set up through the CLI
 * (init, pipelines with a config's env, N copies of the slide, a manifest, the models), the bench models, and each
 * pipeline's job seconds read back with `tessella list job -o json`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { appDir } from '../../engine/app-dir.js';
import { buildModels } from '../models/build.js';
import { makeSyntheticSlide } from '../synthetic-slide.js';
import { tessella } from './tessella-cli.js';

const root = appDir();
export const BENCH_WIDTH = 17760;
export const BENCH_HEIGHT = 10700;
/** The random-weight EfficientNet-B0 beside the checkout (../shared/fixtures). */
export const B0_FIXTURE = resolve(root, '../shared/fixtures/models/efficientnet-b0-random.onnx');

/**
 * The bench slide, made once in `base`: CMU-1 (small region) replicated with `vips` to 17760 x 10700 px, pyramid
 * JPEG TIFF, or a synthetic H&E slide of that size when `vips` or the fixture is absent.
 */
export async function benchSlide(base: string): Promise<{ path: string; kind: string }> {
  const cmu = resolve(root, '../shared/fixtures/slides/cmu-1-small-region.svs');
  const out = join(base, 'slide.tiff');
  const hasVips = spawnSync('vips', ['--version'], { encoding: 'utf8' }).status === 0;
  const kind =
    hasVips && existsSync(cmu)
      ? `CMU-1 small region replicated to ${BENCH_WIDTH}x${BENCH_HEIGHT} (vips)`
      : `synthetic H&E ${BENCH_WIDTH}x${BENCH_HEIGHT}`;
  if (existsSync(out)) return { path: out, kind };
  mkdirSync(base, { recursive: true });
  if (kind.startsWith('CMU')) {
    const v = (args: string[]) => {
      const r = spawnSync('vips', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`vips ${args.join(' ')}: ${r.stderr}`);
    };
    const rep = join(base, 'rep.v');
    const flat = join(base, 'flat.v');
    const crop = join(base, 'crop.v');
    v(['replicate', cmu, rep, '8', '4']); // 2220 x 2967 -> 17760 x 11868
    v(['flatten', rep, flat]);
    v(['crop', flat, crop, '0', '0', String(BENCH_WIDTH), String(BENCH_HEIGHT)]);
    const tiff = ['--tile', '--pyramid', '--compression', 'jpeg', '--Q', '90', '--tile-width', '256'];
    v(['tiffsave', crop, out, ...tiff, '--tile-height', '256']);
    for (const f of [rep, flat, crop]) rmSync(f, { force: true });
  } else {
    await makeSyntheticSlide({
      path: out,
      width: BENCH_WIDTH,
      height: BENCH_HEIGHT,
      seed: 7,
      tissueFraction: 0.5,
      pyramid: true,
    });
  }
  return { path: out, kind };
}

/** The bench models in `dir`: a StainNet-shaped identity and the B0 fixture (a tiny CNN without it). */
export function benchModels(dir: string): { dir: string; embed: string } {
  const b0 = existsSync(B0_FIXTURE);
  buildModels({
    out: dir,
    normalize: 'identity',
    shift: [0, 0, 0],
    embed: 'tiny',
    embedOnnx: b0 ? B0_FIXTURE : undefined,
    seed: 0,
  });
  return { dir, embed: b0 ? 'EfficientNet-B0 (random weights)' : 'tiny CNN (no B0 fixture)' };
}

/**
 * A fresh store in `home` with the pipelines (env set per stage), `n` copies of the slide named S00, S01, ..., a
 * manifest and the models; returns the slide ids. Nothing runs yet. `checkout`: the built checkout whose CLI and
 * pipelines/ make it (another one for a before/after comparison); default this one.
 */
export function setUpStore(
  home: string,
  slide: string,
  n: number,
  models: string,
  env: Record<string, Record<string, string>> = {},
  checkout = root,
): string[] {
  const cli = (args: string[]) => tessella(home, args, checkout);
  rmSync(home, { recursive: true, force: true });
  cli(['init']);
  const specDir = join(home, '..', `specs-${n}`);
  mkdirSync(specDir, { recursive: true });
  for (const [stage, vars] of Object.entries(env)) {
    const spec = YAML.parse(readFileSync(join(checkout, 'pipelines', `${stage}.yaml`), 'utf8'));
    spec.transform.env = { ...spec.transform.env, ...vars };
    const file = join(specDir, `${stage}.json`);
    writeFileSync(file, JSON.stringify(spec));
    cli(['update', 'pipeline', '-f', file]);
  }
  const slidesDir = join(home, '..', `slides-${n}`);
  rmSync(slidesDir, { recursive: true, force: true });
  mkdirSync(slidesDir, { recursive: true });
  const ids = Array.from({ length: n }, (_, i) => `S${String(i).padStart(2, '0')}`);
  const rows = ['image_id,patient_id,center_id,label'];
  ids.forEach((id, i) => {
    spawnSync('ln', ['-s', slide, join(slidesDir, `${id}.tiff`)]);
    rows.push(`${id},P${i},${i % 2},${i % 2 ? 'LAA' : 'CE'}`);
  });
  const manifest = join(home, '..', `manifest-${n}.csv`);
  writeFileSync(manifest, `${rows.join('\n')}\n`);
  cli(['add', 'slides', '-L', slidesDir]);
  cli(['put', 'file', 'manifest@master:/manifest.csv', '-f', manifest]);
  cli(['put', 'file', 'models@master:/', '-f', models, '-r']);
  return ids;
}

export interface JobTimes {
  pipeline: string;
  /** ms since the epoch */
  created: number;
  started: number;
  finished: number;
}

/** Every finished job of the store with its times (`tessella list job -o json`). */
export function jobTimes(home: string): JobTimes[] {
  const out: JobTimes[] = [];
  for (const line of tessella(home, ['list', 'job', '-o', 'json']).split('\n')) {
    if (!line.trim()) continue;
    const j = JSON.parse(line) as {
      job: { pipeline: string };
      created: string | null;
      started: string | null;
      finished: string | null;
    };
    if (!j.started || !j.finished) continue;
    const started = Date.parse(j.started);
    out.push({
      pipeline: j.job.pipeline,
      created: j.created ? Date.parse(j.created) : started,
      started,
      finished: Date.parse(j.finished),
    });
  }
  return out;
}

/** Seconds of each pipeline's jobs, summed. */
export function stageSeconds(home: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of jobTimes(home)) out[j.pipeline] = (out[j.pipeline] ?? 0) + (j.finished - j.started) / 1000;
  return out;
}
