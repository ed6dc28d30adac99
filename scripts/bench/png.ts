/**
 * Tile codecs, CPU per 448 px tile (all threads of this process, best of 3 passes): writing and reading PNG at
 * zlib level 0 and 1 with shared/png.ts and with libvips (sharp), and writing and reading the JPEG tiles
 * tile-extract writes, through TurboJPEG (shared/jpeg-turbo.ts, what the stages use) and through libvips.
 * Tiles: the 448 px grid of CMU-1 (../shared/fixtures), or the records of --tiles PATH (a tiles.tfrecord).
 *
 *   npx tsx scripts/bench/png.ts [--tiles PATH] [--count 48]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { decodeRgb, encodeRgb } from '../../shared/image.js';
import { decodePlainPng, encodePng } from '../../shared/png.js';
import { turboJpeg } from '../../shared/jpeg-turbo.js';
import sharp from 'sharp';
import { openSlide, type RgbImage } from '../../shared/slide/index.js';
import { readTileRecords } from '../../shared/tile-record.js';

const { values } = parseArgs({ options: { tiles: { type: 'string' }, count: { type: 'string', default: '48' } } });
const count = Number(values.count);

async function tilesFromSlide(): Promise<RgbImage[]> {
  const path = join(appDir(), '..', 'shared', 'fixtures', 'slides', 'cmu-1-small-region.svs');
  if (!existsSync(path)) throw new Error(`${path} is missing: pass --tiles PATH (a tiles.tfrecord)`);
  const slide = await openSlide(path);
  const out: RgbImage[] = [];
  const { width: w, height: h } = slide.levels[0];
  for (let y = 0; y + 448 <= h && out.length < count; y += 448)
    for (let x = 0; x + 448 <= w && out.length < count; x += 448)
      out.push({ data: await slide.readRegion(0, x, y, 448, 448), width: 448, height: 448 });
  await slide.close();
  return out;
}

async function tilesFromRecords(path: string): Promise<RgbImage[]> {
  const out: RgbImage[] = [];
  for await (const r of readTileRecords(path)) {
    out.push(await decodeRgb(r.image));
    if (out.length >= count) break;
  }
  return out;
}

const imgs = values.tiles ? await tilesFromRecords(values.tiles) : await tilesFromSlide();

async function cpuPerTile(name: string, f: (i: number) => unknown): Promise<void> {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const c = process.cpuUsage();
    for (let i = 0; i < imgs.length; i++) await f(i);
    const u = process.cpuUsage(c);
    best = Math.min(best, (u.user + u.system) / 1000 / imgs.length);
  }
  console.log(`${name.padEnd(34)} ${best.toFixed(2)} ms`);
}

const kib = (bufs: Buffer[]) => (bufs.reduce((s, b) => s + b.length, 0) / bufs.length / 1024).toFixed(0);
const jpeg = await Promise.all(imgs.map((m) => encodeRgb(m, 'jpeg')));
const vips1 = await Promise.all(imgs.map((m) => encodeRgb(m, 'png', { pngLevel: 1 })));
const ours0 = imgs.map((m) => encodePng(m, 0));
console.log(`${imgs.length} tiles of ${imgs[0].width} px; CPU per tile:`);
await cpuPerTile('write PNG 0, shared/png.ts', (i) => encodePng(imgs[i], 0));
await cpuPerTile('write PNG 1, shared/png.ts', (i) => encodePng(imgs[i], 1));
await cpuPerTile('write PNG 1, libvips', (i) => encodeRgb(imgs[i], 'png', { pngLevel: 1 }));
await cpuPerTile('write JPEG q95 4:4:4, TurboJPEG', (i) => encodeRgb(imgs[i], 'jpeg'));
await cpuPerTile('write JPEG q95 4:4:4, libvips', (i) =>
  sharp(imgs[i].data, { raw: { width: imgs[i].width, height: imgs[i].height, channels: 3 } })
    .jpeg({ quality: 95, chromaSubsampling: '4:4:4', optimiseCoding: false })
    .toBuffer(),
);
await cpuPerTile('read PNG 0, shared/png.ts', (i) => decodePlainPng(ours0[i]));
await cpuPerTile('read PNG 1 (libvips), shared/png.ts', (i) => decodePlainPng(vips1[i]));
await cpuPerTile('read PNG 1, libvips', async (i) => {
  const { data, info } = await sharp(vips1[i]).raw().toBuffer({ resolveWithObject: true });
  return data.length + info.width;
});
await cpuPerTile('read JPEG, TurboJPEG', (i) => decodeRgb(jpeg[i]));
await cpuPerTile('read JPEG, libvips', (i) => sharp(jpeg[i]).raw().toBuffer());
if (!turboJpeg()) console.log('(libturbojpeg.so.0 is not installed: the TurboJPEG rows are libvips too)');
console.log(`KiB per tile: PNG 0 ${kib(ours0)}, PNG 1 (libvips) ${kib(vips1)}, JPEG q95 4:4:4 ${kib(jpeg)}`);
