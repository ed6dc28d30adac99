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
