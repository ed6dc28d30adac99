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
export function fillInput(dst: Float32Array, index: number, pixels: Pixels, height: number, width: number, spec: ModelCard['input']): void {
  const plane = height * width;
  if (pixels.length !== plane * 3) throw new Error(`tile has ${pixels.length} values, expected ${height}x${width}x3`);
  const a = [0, 1, 2].map((c) => spec.scale / spec.std[c]);
  const b = [0, 1, 2].map((c) => -spec.mean[c] / spec.std[c]);
  const base = index * plane * 3;
  if (spec.layout === 'NCHW') {
    const [a0, a1, a2] = a;
    const [b0, b1, b2] = b;
    const r = base;
    const g = base + plane;
    const bl = base + 2 * plane;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      dst[r + i] = pixels[p] * a0 + b0;
      dst[g + i] = pixels[p + 1] * a1 + b1;
      dst[bl + i] = pixels[p + 2] * a2 + b2;
    }
  } else {
    for (let i = 0; i < plane * 3; i++) dst[base + i] = pixels[i] * a[i % 3] + b[i % 3];
  }
}

/**
 * Tile `index` of an image output, back to HWC RGB bytes. Written through a Uint8ClampedArray, which clamps
 * to 0..255 and rounds (half to even) in one store.
 */
export function outputToRgb(y: Float32Array, index: number, height: number, width: number, spec: ModelCard['output']): Buffer {
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
