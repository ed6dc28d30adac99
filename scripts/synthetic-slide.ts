/**
 * Seeded synthetic H&E-like whole-slide images of any size (tests, benchmarks, demos), written as a tiled JPEG
 * TIFF with or without a page pyramid, which OpenSlide (generic-tiff) and libvips read. Never holds the raster:
 * tiles are rendered and encoded one by one; tiles wholly inside tissue or wholly on glass reuse a few seeded
 * variants, so a 100k x 100k slide takes seconds and a few hundred MB of disk at most.
 *
 *   node --import tsx scripts/synthetic-slide.ts -o slide.tiff --width 60000 --height 60000 \
 *     [--seed 1] [--tissue 0.4] [--layout blobs|band|scattered] [--no-pyramid] [--quality 80] [--mpp 0.5]
 */
import { renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { renderTile, type TileKind } from './synthetic/he-render.js';
import { fieldRange, LAYOUTS, makeTissueField, type Layout } from './synthetic/layout.js';
import { hash01 } from './synthetic/noise.js';
import { TiledTiffWriter } from './synthetic/tiff-writer.js';

export interface SyntheticSlideOptions {
  path: string;
  width: number;
  height: number;
  seed?: number;
  /** Share of the slide covered by tissue, 0..1. */
  tissueFraction?: number;
  layout?: Layout;
  /** Write downsampled levels 2x, 4x, ... as further pages. */
  pyramid?: boolean;
  tileSize?: number;
  quality?: number;
  mpp?: number;
}

export interface SyntheticSlide {
  path: string;
  width: number;
  height: number;
  levels: { width: number; height: number; downsample: number }[];
  /** The tissue share actually laid out. */
  tissueFraction: number;
  tiles: number;
  uniqueTiles: number;
  bytes: number;
  seconds: number;
}

/** Distinct interior looks per level; tiles pick one by a hash of their position. */
const VARIANTS = 24;
/** Encodes in flight while the next tiles render. */
const WINDOW = 16;

type Job = { key?: string; jpeg: Promise<Buffer> } | { ref: string };

export async function makeSyntheticSlide(options: SyntheticSlideOptions): Promise<SyntheticSlide> {
  const started = performance.now();
  const { path, width, height } = options;
  const seed = options.seed ?? 1;
  const tissue = options.tissueFraction ?? 0.4;
  const layout = options.layout ?? 'blobs';
  const tileSize = options.tileSize ?? 256;
  const quality = options.quality ?? 80;
  const mpp = options.mpp ?? 0.5;
  if (
    !(
      Number.isInteger(width) &&
      Number.isInteger(height) &&
      width > 0 &&
      height > 0 &&
      width <= 200_000 &&
      height <= 200_000
    )
  ) {
    throw new RangeError(`slide size ${width}x${height}: expected integers in 1..200000`);
  }
  if (!(tissue >= 0 && tissue <= 1)) throw new RangeError(`tissueFraction ${tissue}: expected 0..1`);
  if (!LAYOUTS.includes(layout)) throw new RangeError(`layout '${layout}': expected one of ${LAYOUTS.join(', ')}`);

  const field = makeTissueField(width, height, tissue, layout, seed);
  const levels: SyntheticSlide['levels'] = [{ width, height, downsample: 1 }];
  while (
    options.pyramid !== false &&
    Math.max(levels[levels.length - 1].width, levels[levels.length - 1].height) > tileSize
  ) {
    const d = 2 ** levels.length;
    levels.push({
      width: Math.max(1, Math.floor(width / d)),
      height: Math.max(1, Math.floor(height / d)),
      downsample: d,
    });
  }

  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const writer = new TiledTiffWriter(tmp, {
    tileSize,
    mpp,
    description: `tessella synthetic H&E slide ${width}x${height} seed=${seed} tissue=${tissue} layout=${layout}`,
  });
  sharp.cache(false);
  const encode = (raw: Buffer) =>
    sharp(raw, { raw: { width: tileSize, height: tileSize, channels: 3 } })
      .jpeg({ quality, chromaSubsampling: '4:2:0' })
      .toBuffer();

  let tiles = 0;
  try {
    for (let li = 0; li < levels.length; li++) {
      const level = levels[li];
      const step = level.downsample;
      writer.beginLevel(level);
      const { cols, rows } = writer.tilesAcross(level);
      const placed = new Map<string, { offset: number; length: number }>();
      const queued = new Set<string>();
      const queue: Job[] = [];
      const flushOne = async () => {
        const job = queue.shift()!;
        if ('ref' in job) {
          writer.placeTile(placed.get(job.ref)!);
        } else {
          const at = writer.writeTile(await job.jpeg);
          if (job.key) placed.set(job.key, at);
        }
      };
      for (let ty = 0; ty < rows; ty++) {
        for (let tx = 0; tx < cols; tx++) {
          tiles++;
          const x0 = tx * tileSize * step;
          const y0 = ty * tileSize * step;
          const range = fieldRange(
            field,
            x0,
            y0,
            Math.min(width, x0 + tileSize * step),
            Math.min(height, y0 + tileSize * step),
          );
          const kind: TileKind = range.min > 0 ? 'tissue' : range.max <= 0 ? 'background' : 'mixed';
          if (kind === 'mixed') {
            const raw = Buffer.allocUnsafe(tileSize * tileSize * 3);
            renderTile(raw, tileSize, x0, y0, step, 'mixed', field, seed);
            queue.push({ jpeg: encode(raw) });
          } else {
            const variant = Math.floor(hash01(seed, tx, ty, li) * (kind === 'tissue' ? VARIANTS : 4));
            const key = `${kind}:${variant}`;
            if (queued.has(key)) {
              queue.push({ ref: key });
            } else {
              queued.add(key);
              const raw = Buffer.allocUnsafe(tileSize * tileSize * 3);
              // Variants are drawn at made-up places far from the slide, so their textures differ.
              renderTile(raw, tileSize, 0, 0, step, kind, undefined, seed, (variant + 1) * 1_000_003);
              queue.push({ key, jpeg: encode(raw) });
            }
          }
          while (queue.length > WINDOW) await flushOne();
        }
      }
      while (queue.length) await flushOne();
    }
    const bytes = writer.finish();
    renameSync(tmp, path);
    return {
      path,
      width,
      height,
      levels,
      tissueFraction: field.fraction,
      tiles,
      uniqueTiles: writer.uniqueTiles,
      bytes,
      seconds: Math.round(performance.now() - started) / 1000,
    };
  } catch (err) {
    writer.abort();
    rmSync(tmp, { force: true });
    throw err;
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      output: { type: 'string', short: 'o' },
      width: { type: 'string' },
      height: { type: 'string' },
      size: { type: 'string' },
      seed: { type: 'string', default: '1' },
      tissue: { type: 'string', default: '0.4' },
      layout: { type: 'string', default: 'blobs' },
      'no-pyramid': { type: 'boolean', default: false },
      quality: { type: 'string', default: '80' },
      mpp: { type: 'string', default: '0.5' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const width = Number(values.width ?? values.size);
  const height = Number(values.height ?? values.size ?? values.width);
  if (values.help || !values.output || !width) {
    process.stderr.write(
      'usage: synthetic-slide -o slide.tiff (--size N | --width W --height H) [--seed 1] [--tissue 0.4]\n' +
        `       [--layout ${LAYOUTS.join('|')}] [--no-pyramid] [--quality 80] [--mpp 0.5]\n`,
    );
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const result = await makeSyntheticSlide({
    path: values.output,
    width,
    height,
    seed: Number(values.seed),
    tissueFraction: Number(values.tissue),
    layout: values.layout as Layout,
    pyramid: !values['no-pyramid'],
    quality: Number(values.quality),
    mpp: Number(values.mpp),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli().catch((err: Error) => {
    process.stderr.write(`synthetic-slide: ${err.message}\n`);
    process.exitCode = 1;
  });
}
