/**
 * The colour table's look-up per pixel (the loop normalize runs for every pixel it writes): the WebAssembly kernel
 * (shared/onnx/colour-table-kernel.ts, what the stage runs) against the same loop in JavaScript (below, as the table
 * ran it before the kernel), on one thread, the table warm (every colour of the tiles learnt, as a slide's later
 * tiles find it), alternated round by round; the answers are checked equal. Tiles: the records of --tiles PATH (a
 * tiles.tfrecord: `scripts/bench/vs-peer.ts` leaves DIR/bare/tiles.tfrecord), or the 448 px grid of CMU-1's small
 * region (../shared/fixtures).
 *
 *   npx tsx scripts/bench/colour-lookup.ts [--tiles PATH] [--count 443] [--rounds 5]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { appDir } from '../../engine/app-dir.js';
import { decodeRgb } from '../../shared/image.js';
import { B_KEY, G_KEY, KNOWN, R_KEY } from '../../shared/onnx/colour-table-kernel.js';
import { ColourTable } from '../../shared/onnx/colour-table.js';
import { openSlide } from '../../shared/slide/index.js';
import { readTileRecords } from '../../shared/tile-record.js';
import { median } from './stats.js';
import { tileRoundsArgs } from './tile-rounds-args.js';

const { tiles: tilesPath, count, rounds } = tileRoundsArgs();

async function tiles(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  if (tilesPath) {
    for await (const r of readTileRecords(tilesPath)) {
      out.push((await decodeRgb(r.image)).data);
      if (out.length >= count) break;
    }
    return out;
  }
  const path = join(appDir(), '..', 'shared', 'fixtures', 'slides', 'cmu-1-small-region.svs');
  if (!existsSync(path)) throw new Error(`${path} is missing: pass --tiles PATH (a tiles.tfrecord)`);
  const slide = await openSlide(path);
  const { width: w, height: h } = slide.levels[0];
  for (let y = 0; y + 448 <= h && out.length < count; y += 448)
    for (let x = 0; x + 448 <= w && out.length < count; x += 448) out.push(await slide.readRegion(0, x, y, 448, 448));
  await slide.close();
  return out;
}

/** The look-up in JavaScript over the same entries (known pixels answered, holes counted). */
function lookUpJs(answers: Uint32Array, pixels: Uint8Array, out: Uint8Array): number {
  let holes = 0;
  for (let p = 0; p < pixels.length; p += 3) {
    const v = answers[R_KEY[pixels[p]] | G_KEY[pixels[p + 1]] | B_KEY[pixels[p + 2]]];
    if (v & KNOWN) {
      out[p] = v >>> 16;
      out[p + 1] = v >>> 8;
      out[p + 2] = v;
    } else holes++;
  }
  return holes;
}

const images = await tiles();
const largest = Math.max(...images.map((t) => t.length));
const table = new ColourTable();
const answers = new Uint32Array(table.memory.buffer, 0, 1 << 24);
const out = new Uint8Array(largest);
const outJs = new Uint8Array(largest);
const holes = new Int32Array(largest / 3);
const asks = new Uint8Array(largest);
// every colour learnt: a made-up answer per colour (the channels rotated), so that answers differ from the pixels
let colours = 0;
for (const t of images) {
  const { askedBytes } = table.lookUp(t, out, holes, asks, 0);
  const rotated = asks.slice(0, askedBytes);
  for (let p = 0; p < askedBytes; p += 3) rotated.set([asks[p + 1], asks[p + 2], asks[p]], p);
  table.learn(asks, rotated, askedBytes);
  colours += askedBytes / 3;
}
const pixels = images.reduce((n, t) => n + t.length / 3, 0);
for (const t of images) {
  if (table.lookUp(t, out, holes, asks, 0).holes !== 0 || lookUpJs(answers, t, outJs) !== 0)
    throw new Error('a learnt colour was not answered');
  if (Buffer.compare(out.subarray(0, t.length), outJs.subarray(0, t.length)) !== 0)
    throw new Error('the kernel and the JavaScript loop gave different answers');
}
const ns = { kernel: [] as number[], js: [] as number[] };
for (let r = 0; r < rounds; r++) {
  let t0 = performance.now();
  for (const t of images) table.lookUp(t, out, holes, asks, 0);
  ns.kernel.push(((performance.now() - t0) * 1e6) / pixels);
  t0 = performance.now();
  for (const t of images) lookUpJs(answers, t, outJs);
  ns.js.push(((performance.now() - t0) * 1e6) / pixels);
}
const f2 = (x: number) => x.toFixed(2);
console.log(
  `${images.length} tiles, ${(pixels / 1e6).toFixed(1)}M pixels, ${colours} colours; ns a pixel, one thread:`,
);
console.log(`| round | kernel | JavaScript | JavaScript / kernel |`);
console.log(`|---|---|---|---|`);
for (let r = 0; r < rounds; r++)
  console.log(`| ${r + 1} | ${f2(ns.kernel[r])} | ${f2(ns.js[r])} | ${f2(ns.js[r] / ns.kernel[r])}x |`);
console.log(`| median | ${f2(median(ns.kernel))} | ${f2(median(ns.js))} | ${f2(median(ns.js) / median(ns.kernel))}x |`);
