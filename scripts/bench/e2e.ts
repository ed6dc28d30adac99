/**
 * End to end: `tessella run` on one slide and on a cohort, per stage seconds and tiles/s, against the references
 * computed in the same run (DESIGN.md's performance table): each model's bare session.run on all cores at the
 * stages' batch sizes, and one tile through both (the inference-only limit). References are measured right after
 * each run on its own tiles, so load from other work on the machine weighs on both sides about alike. Also the loss
 * from the slide to the pixels embed and histogram read (normalize's tiles) and to tile-extract's tiles.
 *
 *   npm run build && node --import tsx scripts/bench/e2e.ts [--configs main,default] [--cohort 8] [--dir DIR]
 *     [--slide PATH] [--sweep] [--ref-tiles 64]
 *
 * The slide: CMU-1 (small region, ../shared/fixtures) replicated with `vips replicate` to 17760 x 10700 px, or a
 * synthetic H&E slide of that size when `vips` (libvips-tools) is absent. The cohort: that slide under N names.
 * Configs: `default` runs the pipeline specs as they are; `main` sets what main had before this bench's levers
 * (inference on cores - 1, tiles JPEG 4:2:0, normalize re-encoding JPEG). `--sweep` prints bare session.run
 * per batch size first (how the batch sizes were chosen).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { appDir } from '../../engine/app-dir.js';
import { tessella } from './tessella-cli.js';
import { pipelineNamesIn } from '../../app/spec-folder.js';
import { defaultBatchSize } from '../../shared/onnx/providers.js';
import { benchModels, benchSlide, setUpStore, stageSeconds } from './e2e-store.js';
import { bareRate, bothModels } from './e2e-refs.js';
import { lossVsSlide, type Loss } from './e2e-quality.js';

const root = appDir();
const STAGES = pipelineNamesIn();

const MAIN_THREADS = Math.max(1, availableParallelism() - 1);
/** Pipeline env per config; every other value is the spec's own. */
const CONFIGS: Record<string, Record<string, Record<string, string>>> = {
  default: {},
  main: {
    'tile-extract': { JPEG_CHROMA: '4:2:0' },
    normalize: {
      INTRA_OP_THREADS: String(MAIN_THREADS),
      THREAD_SPINNING: 'on',
      TILE_FORMAT: 'jpeg',
      JPEG_CHROMA: '4:2:0',
      BATCH_SIZE: '8',
    },
    embed: { INTRA_OP_THREADS: String(MAIN_THREADS), THREAD_SPINNING: 'on', BATCH_SIZE: '32' },
  },
};

const { values } = parseArgs({
  options: {
    configs: { type: 'string', default: 'main,default' },
    cohort: { type: 'string', default: '8' },
    dir: { type: 'string' },
    slide: { type: 'string' },
    sweep: { type: 'boolean', default: false },
    'ref-tiles': { type: 'string', default: '64' },
    'loss-tiles': { type: 'string', default: '32' },
  },
});
const base = resolve(values.dir ?? join(tmpdir(), 'tessella-e2e'));
mkdirSync(base, { recursive: true });
const refTiles = Number(values['ref-tiles']);

/** The bench slide: --slide, else made once per --dir. */
async function slideForBench(): Promise<{ path: string; kind: string }> {
  if (values.slide) return { path: resolve(values.slide), kind: values.slide };
  return benchSlide(base);
}

function specEnv(stage: string, env: Record<string, Record<string, string>>): Record<string, string> {
  const spec = YAML.parse(readFileSync(join(root, 'pipelines', `${stage}.yaml`), 'utf8'));
  return { ...spec.transform.env, ...(env[stage] ?? {}) };
}

/** The batch sizes a config runs (0 in a spec: the stage's CPU default). */
function batchSizes(env: Record<string, Record<string, string>>): { normalize: number; embed: number } {
  const size = (task: 'normalize' | 'embed') => Number(specEnv(task, env).BATCH_SIZE) || defaultBatchSize(task, 'cpu');
  return { normalize: size('normalize'), embed: size('embed') };
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const lossText = (l: Loss) =>
  `mean ${f2(l.meanAbs)}, max ${l.maxAbs}, PSNR ${f1(l.psnr)} dB, ${(l.bytes / 1024).toFixed(0)} KiB/tile`;

async function references(work: string, home: string, models: string, batches: { normalize: number; embed: number }) {
  const tiles = join(work, 'ref-tiles');
  rmSync(tiles, { recursive: true, force: true });
  const first = tessella(home, ['list', 'file', 'tile-extract@master:/'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .find((p) => p?.startsWith('/S'));
  const slideDir = (first ?? '/S00').replace(/\/$/, '');
  tessella(home, [
    'get',
    'file',
    `tile-extract@master:${slideDir}/tiles.tfrecord`,
    '-o',
    join(tiles, 'tiles.tfrecord'),
  ]);
  const path = join(tiles, 'tiles.tfrecord');
  const o = { count: refTiles, rounds: 2 };
  const normalize = await bareRate(join(models, 'normalize'), 'normalize', path, { ...o, batch: batches.normalize });
  const embed = await bareRate(join(models, 'embed'), 'embed', path, { ...o, batch: batches.embed });
  return { normalize: normalize.tilesPerS, embed: embed.tilesPerS, path };
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist', 'stages')))
    throw new Error('run `npm run build` first: the stages run from dist/');
  const slide = await slideForBench();
  const models = join(base, 'models');
  const built = benchModels(models);
  const cores = availableParallelism();
  console.log(`slide: ${slide.kind}; models: StainNet-shaped identity, ${built.embed}; ${cores} cores`);
  console.log(
    `load average at start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (other work on the machine slows both sides)`,
  );

  const cohort = Number(values.cohort);
  const configs = values.configs!.split(',').filter(Boolean);
  for (const name of configs) {
    const env = CONFIGS[name];
    if (!env) throw new Error(`--configs: unknown config '${name}'; known: ${Object.keys(CONFIGS).join(', ')}`);
    const batches = batchSizes(env);
    for (const n of name === configs[configs.length - 1] && cohort > 1 ? [1, cohort] : [1]) {
      const work = join(base, `${name}-${n}`);
      const home = join(work, 'store');
      mkdirSync(work, { recursive: true });
      const ids = setUpStore(home, slide.path, n, models, env);
      const t0 = performance.now();
      tessella(home, ['run']);
      const wall = (performance.now() - t0) / 1000;
      const refs = await references(work, home, models, batches);
      if (values.sweep && n === 1 && name === configs[0]) await sweep(models, refs.path);
      const secs = stageSeconds(home);
      const tilesPerSlide = JSON.parse(tessella(home, ['get', 'file', `tile-detect@master:/${ids[0]}/tiles.json`]))
        .tiles.length as number;
      const tiles = tilesPerSlide * n;
      const limit = bothModels(refs.normalize, refs.embed);
      console.log(
        `\n## ${name}: ${n} slide(s), ${tiles} tiles, batch normalize ${batches.normalize} / embed ${batches.embed}`,
      );
      console.log(
        "each stage's seconds are its jobs' own; pipelines that do not read each other run at once (histogram beside embed), so they overlap",
      );
      console.log('| | seconds | tiles/s | vs reference |\n|---|---|---|---|');
      for (const s of STAGES) {
        const sec = secs[s] ?? 0;
        const perTile = ['tile-extract', 'normalize', 'embed', 'histogram'].includes(s);
        const ref = s === 'normalize' ? refs.normalize : s === 'embed' ? refs.embed : undefined;
        const rate = tiles / sec;
        console.log(
          `| ${s} | ${f1(sec)} | ${perTile ? f1(rate) : ''} | ${ref ? `${f2(rate / ref)}x bare (${f1(ref)})` : ''} |`,
        );
      }
      console.log(
        `| whole \`tessella run\` | ${f1(wall)} | ${f1(tiles / wall)} | ${f2(tiles / wall / limit)}x the limit |`,
      );
      console.log(
        `| bare session.run, ${cores} threads: StainNet 448 (batch ${batches.normalize}) / B0 224 (batch ${batches.embed}) | | ${f1(refs.normalize)} / ${f1(refs.embed)} | |`,
      );
      console.log(`| one tile through both models, bare (the inference-only limit) | | ${f1(limit)} | |`);
      if (n === 1) {
        const lossTiles = Number(values['loss-tiles']);
        const extract = await getTiles(home, 'tile-extract', ids[0], work);
        const normalized = await getTiles(home, 'normalize', ids[0], work);
        console.log(
          `loss vs the slide, first ${lossTiles} tiles: tile-extract ${lossText(await lossVsSlide(slide.path, extract, lossTiles))}`,
        );
        console.log(
          `  normalize (what embed and histogram read): ${lossText(await lossVsSlide(slide.path, normalized, lossTiles))}`,
        );
      }
    }
  }
}

async function getTiles(home: string, repo: string, id: string, work: string): Promise<string> {
  const out = join(work, `${repo}-tiles.tfrecord`);
  rmSync(out, { force: true });
  tessella(home, ['get', 'file', `${repo}@master:/${id}/tiles.tfrecord`, '-o', out]);
  return out;
}

/** Bare session.run per batch size, all cores and one fewer: how the stages' batch sizes were chosen. */
async function sweep(models: string, tiles: string): Promise<void> {
  const cores = availableParallelism();
  for (const [task, sizes] of [
    ['normalize', [1, 2, 4, 8, 16]],
    ['embed', [8, 16, 32, 64]],
  ] as const) {
    for (const threads of [...new Set([cores, Math.max(1, cores - 1)])]) {
      const rates = [];
      for (const batch of sizes)
        rates.push(
          `${batch}: ${f1((await bareRate(join(models, task), task, tiles, { batch, threads, count: Math.min(refTiles, 32), rounds: 1 })).tilesPerS)}`,
        );
      console.log(`sweep ${task}, ${threads} threads, tiles/s by batch: ${rates.join(', ')}`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
