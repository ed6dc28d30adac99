/**
 * What embed's thread spends per 448 px tile on a tile's 2 x 2 block sums, from the stored PNG record to the sums
 * the batch takes: the PNG decoded into a buffer and summed in JavaScript (tensor.ts blockSums, as the stage did),
 * against decoded into the WebAssembly kernel's memory and summed there (shared/onnx/pair-sums-kernel.ts, what it
 * does now); alternated round by round on one thread, the sums checked equal. Tiles: the records of --tiles PATH
 * (normalize's tiles.tfrecord: `scripts/bench/vs-peer.ts` leaves DIR/bare/normalized.tfrecord), else 64 stored PNG
 * tiles of noise.
 *
 *   npx tsx scripts/bench/pair-sums.ts [--tiles PATH] [--count 443] [--rounds 5]
 */
import { PairSums } from '../../shared/onnx/pair-sums-kernel.js';
import { blockSums } from '../../shared/onnx/tensor.js';
import { decodePlainPng, encodePng } from '../../shared/png.js';
import { readTileRecords } from '../../shared/tile-record.js';
import { median } from './stats.js';
import { tileRoundsArgs } from './tile-rounds-args.js';

const { tiles: tilesPath, count, rounds } = tileRoundsArgs();
const SIDE = 448;

async function records(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  if (tilesPath) {
    for await (const r of readTileRecords(tilesPath)) {
      out.push(Uint8Array.from(r.image));
      if (out.length >= count) break;
    }
    return out;
  }
  let s = 1;
  for (let t = 0; t < Math.min(count, 64); t++) {
    const data = Buffer.alloc(SIDE * SIDE * 3);
    for (let i = 0; i < data.length; i++) data[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    out.push(encodePng({ data, width: SIDE, height: SIDE }, 0));
  }
  return out;
}

const pngs = await records();
const kernel = new PairSums(SIDE);
const sumsPerTile = 3 * (SIDE / 2) ** 2;
const pixels = Buffer.alloc(SIDE * SIDE * 3);
const js = new Uint16Array(sumsPerTile * pngs.length);
const wasm = new Uint16Array(sumsPerTile * pngs.length);
for (const png of pngs) {
  const img = decodePlainPng(png);
  if (!img || img.width !== SIDE || img.height !== SIDE)
    throw new Error(`--tiles: expected stored PNG tiles of ${SIDE} px (normalize's), got another record`);
}

const perTile = (run: () => void) => {
  const t0 = performance.now();
  run();
  return (performance.now() - t0) / pngs.length;
};
const inJs = () =>
  perTile(() =>
    pngs.forEach((png, i) => {
      decodePlainPng(png, () => pixels);
      blockSums(js, i, pixels, SIDE, 2);
    }),
  );
const inKernel = () =>
  perTile(() =>
    pngs.forEach((png, i) => {
      decodePlainPng(png, () => kernel.pixels);
      kernel.sums(wasm, i);
    }),
  );
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < rounds; r++) {
  a.push(inJs());
  b.push(inKernel());
}
if (js.some((v, i) => v !== wasm[i])) throw new Error('the kernel and JavaScript sums differ');
const f3 = (x: number) => x.toFixed(3);
console.log(`${pngs.length} tiles of ${SIDE} px, ${rounds} rounds alternated, ms a tile (decode and sums):`);
console.log(`  JavaScript  ${a.map(f3).join(' ')}  median ${f3(median(a))}`);
console.log(`  WebAssembly ${b.map(f3).join(' ')}  median ${f3(median(b))}  (${(median(a) / median(b)).toFixed(2)}x)`);
