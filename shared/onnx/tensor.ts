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

/** Write tile `index` of a batch into `dst` (allocated for the whole batch) in the card's layout. */
export function fillInput(
  dst: Float32Array,
  index: number,
  pixels: Pixels,
  height: number,
  width: number,
  spec: ModelCard['input'],
): void {
  const plane = height * width;
  if (pixels.length !== plane * 3) throw new Error(`tile has ${pixels.length} values, expected ${height}x${width}x3`);
  const base = index * plane * 3;
  // Two monomorphic loops: bytes go through a per-channel lookup table, floats (after a mean downscale) through a*p+b.
  if (pixels instanceof Uint8Array) fillFromBytes(dst, base, pixels, plane, spec);
  else fillFromFloats(dst, base, pixels, plane, spec);
}

const lutCache = new WeakMap<ModelCard['input'], Float32Array>();

/** 3 x 256 input values for every byte, per channel. */
function lutFor(spec: ModelCard['input']): Float32Array {
  let lut = lutCache.get(spec);
  if (!lut) {
    lut = new Float32Array(768);
    for (let c = 0; c < 3; c++)
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v * spec.scale - spec.mean[c]) / spec.std[c];
    lutCache.set(spec, lut);
  }
  return lut;
}

function fillFromBytes(dst: Float32Array, base: number, px: Uint8Array, plane: number, spec: ModelCard['input']): void {
  const lut = lutFor(spec);
  if (spec.layout === 'NCHW') {
    const g = base + plane;
    const b = base + 2 * plane;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      dst[base + i] = lut[px[p]];
      dst[g + i] = lut[256 + px[p + 1]];
      dst[b + i] = lut[512 + px[p + 2]];
    }
  } else {
    for (let p = 0; p < plane * 3; p += 3) {
      dst[base + p] = lut[px[p]];
      dst[base + p + 1] = lut[256 + px[p + 1]];
      dst[base + p + 2] = lut[512 + px[p + 2]];
    }
  }
}

function fillFromFloats(
  dst: Float32Array,
  base: number,
  px: Float32Array,
  plane: number,
  spec: ModelCard['input'],
): void {
  const [a0, a1, a2] = [0, 1, 2].map((c) => spec.scale / spec.std[c]);
  const [b0, b1, b2] = [0, 1, 2].map((c) => -spec.mean[c] / spec.std[c]);
  if (spec.layout === 'NCHW') {
    const g = base + plane;
    const b = base + 2 * plane;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      dst[base + i] = px[p] * a0 + b0;
      dst[g + i] = px[p + 1] * a1 + b1;
      dst[b + i] = px[p + 2] * a2 + b2;
    }
  } else {
    for (let p = 0; p < plane * 3; p += 3) {
      dst[base + p] = px[p] * a0 + b0;
      dst[base + p + 1] = px[p + 1] * a1 + b1;
      dst[base + p + 2] = px[p + 2] * a2 + b2;
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
