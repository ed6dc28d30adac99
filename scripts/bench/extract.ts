/**
 * tile-extract's costs on one slide, outside the engine: first each step alone, one tile at a time (so the
 * process's CPU over a step is that step's CPU, whichever thread ran it): OpenSlide's read, the ARGB -> RGB
 * conversion, the JPEG encode, the TFRecord framing and write; then the stage's own pipeline (extractTiles into
 * a TileRecordWriter buffered as the stage's) at several READS_IN_FLIGHT, with its wall, CPU, and cores busy (CPU s /
 * wall s), best of --passes. Tiles: tiles.json from tile-detect for that slide (e.g. `tessella get file
 * tile-detect@master:/S00/tiles.json -o tiles.json` from a store that ran it).
 *
 *   npx tsx scripts/bench/extract.ts --slide PATH --tiles tiles.json [--in-flight 2,4,8] [--passes 3] [--out DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readTilesJson } from '../../shared/contract/index.js';
import { bgrxJpegEncoder, encodeRgb } from '../../shared/image.js';
import { openSlide, type Slide } from '../../shared/slide/index.js';
import { loadOpenSlide } from '../../shared/slide/openslide-lib.js';
import { isOpaqueBgrx, premultipliedArgbToRgb } from '../../shared/slide/pixels.js';
import { TileRecordWriter } from '../../shared/tile-record.js';
import { extractTiles } from '../../stages/tile-extract/extract.js';
import { WRITE_BUFFER } from '../../stages/tile-extract/extract-slide.js';

const { values } = parseArgs({
  options: {
    slide: { type: 'string' },
    tiles: { type: 'string' },
    'in-flight': { type: 'string', default: '1,2,4,8' },
    passes: { type: 'string', default: '3' },
    out: { type: 'string' },
  },
});
if (!values.slide || !values.tiles) throw new Error('pass --slide PATH and --tiles PATH (tile-detect tiles.json)');
const detected = readTilesJson(values.tiles);
const side = detected.params.tile_size;
const tiles = detected.tiles;
const JPEG = { quality: 95, chroma: '4:4:4' } as const;
const out = values.out ?? mkdtempSync(join(tmpdir(), 'extract-bench-'));

/** Process CPU (all threads) in ms. */
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function steps(): Promise<void> {
  const lib = loadOpenSlide();
  const osr = lib.open(values.slide!);
  const argb = Buffer.alloc(side * side * 4);
  const writer = await TileRecordWriter.open(join(out, 'steps.tfrecord'));
  const sum = { read: 0, convert: 0, encode: 0, write: 0, opaque: 0, bgrx: 0 };
  const bgrxJpeg = bgrxJpegEncoder();
  let same = 0;
  const wall = { read: 0, encode: 0 };
  for (const t of tiles) {
    // each step's CPU since the last lap, added to its sum
    let c = cpuMs();
    const lap = (step: keyof typeof sum) => {
      const now = cpuMs();
      sum[step] += now - c;
      c = now;
    };
    let w = performance.now();
    await lib.readRegionAsync(osr, argb, t.x, t.y, 0, side, side);
    wall.read += performance.now() - w;
    lap('read');
    // the BGRX path: the opacity check, then TurboJPEG from OpenSlide's words as they are
    const opaque = isOpaqueBgrx(argb, side * side);
    lap('opaque');
    const fromBgrx = opaque && bgrxJpeg ? await bgrxJpeg({ data: argb, width: side, height: side }, JPEG) : undefined;
    lap('bgrx');
    const rgb = premultipliedArgbToRgb(argb, side * side);
    lap('convert');
    w = performance.now();
    const jpeg = await encodeRgb({ data: rgb, width: side, height: side }, 'jpeg', JPEG);
    wall.encode += performance.now() - w;
    lap('encode');
    if (fromBgrx?.equals(jpeg)) same++;
    await writer.write({ slide: 'S', image: jpeg, locX: t.x, locY: t.y });
    lap('write');
  }
  await writer.close();
  lib.close(osr);
  const n = tiles.length;
  console.log(
    `per tile, one at a time (${n} tiles of ${side} px), CPU ms: read ${(sum.read / n).toFixed(2)} ` +
      `(wall ${(wall.read / n).toFixed(2)}), ARGB->RGB ${(sum.convert / n).toFixed(2)}, ` +
      `JPEG encode ${(sum.encode / n).toFixed(2)} (wall ${(wall.encode / n).toFixed(2)}), ` +
      `TFRecord frame+write ${(sum.write / n).toFixed(2)}`,
  );
  console.log(
    `BGRX path: opacity check ${(sum.opaque / n).toFixed(2)}, JPEG encode from BGRX ${(sum.bgrx / n).toFixed(2)} ` +
      `CPU ms per tile; ${same} of ${n} tiles opaque and the same bytes as from RGB`,
  );
}

/**
 * The stage's pipeline over the slide. 'rgb': the reads refuse BGRX (the options are dropped), as before BGRX
 * existed, so both paths are compared in one process, their passes alternated.
 */
async function pipeline(inFlight: number, layout: 'rgb' | 'bgrx'): Promise<{ wall: number; cpu: number }> {
  const opened = await openSlide(values.slide!);
  const slide: Slide =
    layout === 'bgrx'
      ? opened
      : Object.assign(Object.create(opened) as Slide, {
          readRegionPooled: (l: number, x: number, y: number, w: number, h: number) =>
            opened.readRegionPooled(l, x, y, w, h),
        });
  const writer = await TileRecordWriter.open(join(out, `p${inFlight}.tfrecord`), { bufferBytes: WRITE_BUFFER });
  const c = cpuMs();
  const w = performance.now();
  for await (const t of extractTiles(slide, tiles, { tileSize: side, format: 'jpeg', ...JPEG, inFlight }))
    await writer.write({ slide: 'S', image: t.image, locX: t.locX, locY: t.locY });
  await writer.close();
  const r = { wall: (performance.now() - w) / 1000, cpu: (cpuMs() - c) / 1000 };
  await opened.close();
  return r;
}

async function main(): Promise<void> {
  console.log(`UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(4)'}; load ${load()}`);
  await steps();
  for (const k of values['in-flight']!.split(',').map(Number)) {
    const runs = { rgb: [] as { wall: number; cpu: number }[], bgrx: [] as { wall: number; cpu: number }[] };
    for (let i = 0; i < Number(values.passes); i++)
      for (const layout of ['rgb', 'bgrx'] as const) runs[layout].push(await pipeline(k, layout));
    for (const layout of ['rgb', 'bgrx'] as const) report(k, layout, runs[layout]);
  }
  if (!values.out) rmSync(out, { recursive: true, force: true });
}

function report(k: number, layout: string, runs: { wall: number; cpu: number }[]): void {
  const best = runs.reduce((a, b) => (b.wall < a.wall ? b : a));
  const cpuMedian = runs.map((r) => r.cpu).sort((a, b) => a - b)[runs.length >> 1];
  const perTile = (s: number) => ((s * 1000) / tiles.length).toFixed(2);
  console.log(
    `pipeline inFlight ${k}, ${layout}: wall ${best.wall.toFixed(3)} s (${perTile(best.wall)} ms/tile), ` +
      `CPU ${best.cpu.toFixed(3)} s (${perTile(best.cpu)} ms/tile), cores busy ${(best.cpu / best.wall).toFixed(2)} ` +
      `(best wall of ${runs.length}); median CPU ${perTile(cpuMedian)} ms/tile; load ${load()}`,
  );
}

await main();
