/** Test helpers for the model stages: synthetic tiles, tile records, running a stage's main. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { TILES_TFRECORD } from '../../shared/contract/index.js';
import { TileRecordWriter } from '../../shared/tile-record.js';

import { projectRoot, sharedDir } from '../helpers/dirs.js';

export { projectRoot, sharedDir };
export const fixtureModel = join(sharedDir, 'fixtures/models/efficientnet-b0-random.onnx');
export const fixtureModelMissing = existsSync(fixtureModel)
  ? false
  : `needs ${fixtureModel} (../shared beside the project)`;

/** Smooth, tissue-coloured RGB pixels (pink/purple gradients with a blob), different per seed. */
export function tissuePixels(size: number, seed: number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const blob = Math.exp(-(((u - 0.3 - 0.1 * (seed % 3)) ** 2 + (v - 0.5) ** 2) / 0.05));
      const o = (y * size + x) * 3;
      px[o] = Math.round(200 + 40 * u - 90 * blob) & 255;
      px[o + 1] = Math.round(120 + 60 * v - 70 * blob + 10 * Math.sin(seed + 9 * u));
      px[o + 2] = Math.round(170 + 30 * Math.cos(seed + 5 * v) - 20 * blob);
    }
  }
  return px;
}

export function encodeTile(pixels: Buffer, size: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const s = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
  return format === 'jpeg' ? s.jpeg({ quality: 95 }).toBuffer() : s.png().toBuffer();
}

export interface SyntheticTile {
  image: Buffer;
  locX: number;
  locY: number;
}

/** Write `/<root>/<slide>/tiles.tfrecord` as tile-extract does. */
export async function writeTiles(root: string, slide: string, tiles: SyntheticTile[]): Promise<string> {
  const w = await TileRecordWriter.open(join(root, slide, TILES_TFRECORD));
  for (const t of tiles) await w.write({ slide, image: t.image, locX: t.locX, locY: t.locY });
  await w.close();
  return join(root, slide);
}

export async function syntheticTiles(
  n: number,
  size: number,
  format: 'jpeg' | 'png',
): Promise<{ tiles: SyntheticTile[]; pixels: Buffer[] }> {
  const pixels = Array.from({ length: n }, (_, i) => tissuePixels(size, i));
  const tiles = await Promise.all(
    pixels.map(async (p, i) => ({
      image: await encodeTile(p, size, format),
      locX: 224 + 448 * i,
      locY: 224 + 448 * (i % 2),
    })),
  );
  return { tiles, pixels };
}

/** Run `stages/<stage>/main.ts` as the engine runs a datum: a child process with PFS_ROOT and input variables. */
export function runStage(stage: string, env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', stage, 'main.ts')], {
    cwd: projectRoot,
    // a model stage's thread count; another stage refuses it as a parameter it does not have
    env: {
      ...process.env,
      TESSELLA_LOG_FORMAT: 'json',
      ...(stage === 'normalize' || stage === 'embed' ? { INTRA_OP_THREADS: '2' } : {}),
      ...env,
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, stderr: r.stderr };
}

/** Bytes of `levels` values, a hash of (seed, index): sequences of different seeds do not overlap. */
export function noise(pixels: number, seed: number, levels = 256): Uint8Array {
  return Uint8Array.from({ length: pixels * 3 }, (_, i) => {
    let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    return ((h ^ (h >>> 13)) >>> 0) % levels;
  });
}

/** A colour table's "model" in tests: each channel's answer a function of that channel alone. */
export const channelAnswer = (v: number): number => (v * 7 + 13) & 255;
