/**
 * Pixels into model inputs and model outputs back into pixels, following the card:
 *   in:  x = (pixel * scale - mean[c]) / std[c]     out: pixel = round(clamp((y * std[c] + mean[c]) / scale, 0, 255))
 * Pixel buffers are HWC RGB (bytes, or floats 0..255 after a mean downscale).
 */
import type { ModelCard } from './card.js';

type Pixels = Uint8Array | Float32Array;

/** Input dims for a batch of n square tiles of `size`. */
export function inputDims(layout: ModelCard['input']['layout'], n: number, height: number, width: number): number[] {
  return layout === 'NCHW' ? [n, 3, height, width] : [n, height, width, 3];
}

/**
 * A batch of same-size RGB tiles as one uint8 NHWC buffer, and its dims: the input of a model wrapped for pixels.
 * `into`: where the buffer comes from (the inference worker's reused ones), else a new one.
 */
export function pixelBatch(
  tiles: Uint8Array[],
  height: number,
  width: number,
  into?: (bytes: number) => ArrayBuffer | SharedArrayBuffer,
): { data: Uint8Array; dims: number[] } {
  const tile = height * width * 3;
  const data = into ? new Uint8Array(into(tiles.length * tile)) : new Uint8Array(tiles.length * tile);
  tiles.forEach((t, i) => data.set(t, i * tile));
  return { data, dims: inputDims('NHWC', tiles.length, height, width) };
}

/**
 * Tiles' block sums (blockSums, one tile each) as one uint16 [n, 3, size, size] buffer, and its dims: the input of a
 * model wrapped for sums (pixel-io.ts). `into`: as pixelBatch.
 */
export function sumsBatch(
  tiles: Uint16Array[],
  size: number,
  into?: (bytes: number) => ArrayBuffer | SharedArrayBuffer,
): { data: Uint16Array; dims: number[] } {
  const tile = 3 * size * size;
  const data = into ? new Uint16Array(into(2 * tiles.length * tile)) : new Uint16Array(tiles.length * tile);
  tiles.forEach((t, i) => {
    if (t.length !== tile) throw new Error(`tile has ${t.length} sums, expected 3x${size}x${size}`);
    data.set(t, i * tile);
  });
  return { data, dims: [tiles.length, 3, size, size] };
}

/**
 * Tile `index`'s k x k block sums into `dst`: per channel, the sum of each block of bytes, planar
 * ([3, side/k, side/k] per tile), what a model wrapped for sums takes (pixel-io.ts `sums`).
 */
export function blockSums(dst: Uint16Array, index: number, px: Uint8Array, side: number, k: number): void {
  if (px.length !== side * side * 3) throw new Error(`tile has ${px.length} values, expected ${side}x${side}x3`);
  if (side % k) throw new Error(`a ${side} px tile has no whole ${k} x ${k} blocks`);
  if (k === 2 && side % 4 === 0 && px.byteOffset % 4 === 0 && dst.byteOffset % 4 === 0 && LITTLE_ENDIAN) {
    pairSums(dst, index, px, side);
    return;
  }
  const m = side / k;
  const plane = m * m;
  const r = index * 3 * plane;
  const g = r + plane;
  const bl = g + plane;
  const row = side * 3;
  for (let y = 0, o = 0; y < m; y++) {
    for (let x = 0; x < m; x++, o++) {
      let sr = 0;
      let sg = 0;
      let sb = 0;
      for (let dy = 0; dy < k; dy++) {
        for (let dx = 0, p = (y * k + dy) * row + x * k * 3; dx < k; dx++, p += 3) {
          sr += px[p];
          sg += px[p + 1];
          sb += px[p + 2];
        }
      }
      dst[r + o] = sr;
      dst[g + o] = sg;
      dst[bl + o] = sb;
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const EVEN_BYTES = 0x00ff00ff;
const LOW = 0xffff;
const HIGH = 0xffff0000;

/**
 * 2 x 2 block sums read and written a word at a time (1.8x the byte loop): the 12 bytes of 4 pixels are 3 words in
 * each of two rows; their even and odd bytes, summed down the rows as 16-bit lanes (at most 510, no carry), pair
 * into each output channel's two sums, stored as one word (two uint16 of a plane, low first).
 */
function pairSums(dst: Uint16Array, index: number, px: Uint8Array, side: number): void {
  const words = new Uint32Array(px.buffer, px.byteOffset, px.length >> 2);
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length >> 1);
  const m = side >> 1;
  const plane = (m * m) >> 1;
  const rowWords = (side * 3) >> 2;
  for (let y = 0, o = index * 3 * plane; y < m; y++) {
    const end = (2 * y + 1) * rowWords;
    for (let p = 2 * y * rowWords; p < end; p += 3, o++) {
      const q = p + rowWords;
      const a0 = words[p];
      const a1 = words[p + 1];
      const a2 = words[p + 2];
      const b0 = words[q];
      const b1 = words[q + 1];
      const b2 = words[q + 2];
      // lanes, low | high: l0 = R0 B0, h0 = G0 R1, l1 = G1 R2, h1 = B1 G2, l2 = B2 G3, h2 = R3 B3 (each two rows)
      const l0 = (a0 & EVEN_BYTES) + (b0 & EVEN_BYTES);
      const h0 = ((a0 >>> 8) & EVEN_BYTES) + ((b0 >>> 8) & EVEN_BYTES);
      const l1 = (a1 & EVEN_BYTES) + (b1 & EVEN_BYTES);
      const h1 = ((a1 >>> 8) & EVEN_BYTES) + ((b1 >>> 8) & EVEN_BYTES);
      const l2 = (a2 & EVEN_BYTES) + (b2 & EVEN_BYTES);
      const h2 = ((a2 >>> 8) & EVEN_BYTES) + ((b2 >>> 8) & EVEN_BYTES);
      out[o] = ((l0 & LOW) | (l1 & HIGH)) + ((h0 >>> 16) | (h2 << 16));
      out[o + plane] = ((h0 & LOW) | (h1 & HIGH)) + ((l1 & LOW) | (l2 & HIGH));
      out[o + 2 * plane] = ((l0 >>> 16) | (l2 << 16)) + ((h1 & LOW) | (h2 & HIGH));
    }
  }
}

/**
 * Write tile `index` of a batch into `dst` (allocated for the whole batch) in the card's layout. With `k` > 1 the
 * pixels are bytes of a (height k) x (width k) tile, brought to height x width by a k x k mean on the way: one pass
 * instead of a float image in between, the same floats as a float image of the means then this.
 */
export function fillInput(
  dst: Float32Array,
  index: number,
  pixels: Pixels,
  height: number,
  width: number,
  spec: ModelCard['input'],
  k = 1,
): void {
  const plane = height * width;
  if (pixels.length !== plane * 3 * k * k)
    throw new Error(`tile has ${pixels.length} values, expected ${height * k}x${width * k}x3`);
  const base = index * plane * 3;
  if (k > 1) {
    if (!(pixels instanceof Uint8Array)) throw new Error('a k x k mean is taken of byte pixels only');
    fillMean(dst, base, pixels, height, width, k, spec);
  } else fillScaled(dst, base, pixels, plane, spec);
}

/** Per channel, x = p * a + b: a = scale / std, b = -mean / std (written this way, not through a lookup table: 1.5x faster). */
function coefficients(spec: ModelCard['input']): { a: number[]; b: number[] } {
  return { a: [0, 1, 2].map((c) => spec.scale / spec.std[c]), b: [0, 1, 2].map((c) => -spec.mean[c] / spec.std[c]) };
}

function fillScaled(dst: Float32Array, base: number, px: Pixels, plane: number, spec: ModelCard['input']): void {
  const { a, b } = coefficients(spec);
  const [a0, a1, a2] = a;
  const [b0, b1, b2] = b;
  if (spec.layout === 'NCHW') {
    const g = base + plane;
    const bl = base + 2 * plane;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      dst[base + i] = px[p] * a0 + b0;
      dst[g + i] = px[p + 1] * a1 + b1;
      dst[bl + i] = px[p + 2] * a2 + b2;
    }
  } else {
    for (let p = 0; p < plane * 3; p += 3) {
      dst[base + p] = px[p] * a0 + b0;
      dst[base + p + 1] = px[p + 1] * a1 + b1;
      dst[base + p + 2] = px[p + 2] * a2 + b2;
    }
  }
}

function fillMean(
  dst: Float32Array,
  base: number,
  px: Uint8Array,
  height: number,
  width: number,
  k: number,
  spec: ModelCard['input'],
): void {
  const { a, b } = coefficients(spec);
  const [a0, a1, a2] = a;
  const [b0, b1, b2] = b;
  const inv = 1 / (k * k);
  const rowStride = width * k * 3;
  const plane = height * width;
  // NCHW: channel planes; NHWC: interleaved
  const [o0, o1, o2, step] = spec.layout === 'NCHW' ? [0, plane, 2 * plane, 1] : [0, 1, 2, 3];
  for (let y = 0, i = base; y < height; y++) {
    for (let x = 0; x < width; x++, i += step) {
      let r = 0;
      let g = 0;
      let bl = 0;
      for (let dy = 0; dy < k; dy++) {
        let p = (y * k + dy) * rowStride + x * k * 3;
        for (let dx = 0; dx < k; dx++, p += 3) {
          r += px[p];
          g += px[p + 1];
          bl += px[p + 2];
        }
      }
      // the mean rounded to float32 first, as a stored float image would hold it
      dst[i + o0] = Math.fround(r * inv) * a0 + b0;
      dst[i + o1] = Math.fround(g * inv) * a1 + b1;
      dst[i + o2] = Math.fround(bl * inv) * a2 + b2;
    }
  }
}

/**
 * Tile `index` of an image output, back to HWC RGB bytes. Written through a Uint8ClampedArray, which clamps
 * to 0..255 and rounds (half to even) in one store.
 */
export function outputToRgb(
  y: Float32Array,
  index: number,
  height: number,
  width: number,
  spec: ModelCard['output'],
): Buffer {
  const plane = height * width;
  const out = Buffer.allocUnsafe(plane * 3);
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const a = [0, 1, 2].map((c) => spec.std[c] / spec.scale);
  const b = [0, 1, 2].map((c) => spec.mean[c] / spec.scale);
  const base = index * plane * 3;
  if (spec.layout === 'NCHW') {
    const [a0, a1, a2] = a;
    const [b0, b1, b2] = b;
    const r = base;
    const g = base + plane;
    const bl = base + 2 * plane;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      clamped[p] = y[r + i] * a0 + b0;
      clamped[p + 1] = y[g + i] * a1 + b1;
      clamped[p + 2] = y[bl + i] * a2 + b2;
    }
  } else if (spec.layout === 'NHWC') {
    for (let i = 0; i < plane * 3; i++) clamped[i] = y[base + i] * a[i % 3] + b[i % 3];
  } else {
    throw new Error(`an image output must be NCHW or NHWC, the card says ${spec.layout}`);
  }
  return out;
}
