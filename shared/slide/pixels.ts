/** Pixel format conversions and pixel-size facts shared by the readers. */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * OpenSlide's premultiplied ARGB (one native-endian uint32 per pixel) to RGB composited over white:
 * premultiplied colour plus (255 - alpha) of white. Opaque pixels are unchanged; transparent ones (outside the
 * scanned area) become white, as a pathologist sees the glass. Reads whole words (0xAARRGGBB on any byte
 * order) and, four opaque pixels at a time, writes three words: this runs on every pixel read. `out` may be
 * `argb` itself (converted in place: each group of pixels is read before its bytes are written, and RGB is
 * shorter), so a reader can decode and convert in one buffer.
 */
export function premultipliedArgbToRgb(
  argb: Buffer,
  pixels: number,
  out: Buffer = Buffer.allocUnsafe(pixels * 3),
): Buffer {
  const words =
    argb.byteOffset % 4 === 0
      ? new Uint32Array(argb.buffer, argb.byteOffset, pixels)
      : new Uint32Array(Uint8Array.from(argb.subarray(0, pixels * 4)).buffer);
  let p = 0;
  if (LITTLE_ENDIAN && out.byteOffset % 4 === 0) {
    const o32 = new Uint32Array(out.buffer, out.byteOffset, (pixels * 3) >> 2);
    for (let q = 0, end = pixels & ~3; p < end; p += 4, q += 3) {
      const a = words[p];
      const b = words[p + 1];
      const c = words[p + 2];
      const d = words[p + 3];
      if ((a & b & c & d) >>> 24 === 255) {
        // Bytes r0 g0 b0 r1 | g1 b1 r2 g2 | b2 r3 g3 b3, lowest first.
        o32[q] = ((a >>> 16) & 0xff) | (a & 0xff00) | ((a & 0xff) << 16) | ((b << 8) & 0xff000000);
        o32[q + 1] = ((b >>> 8) & 0xff) | ((b & 0xff) << 8) | (c & 0xff0000) | ((c << 16) & 0xff000000);
        o32[q + 2] = (c & 0xff) | ((d >>> 8) & 0xff00) | ((d << 8) & 0xff0000) | (d << 24);
      } else {
        pixelToRgb(a, out, p * 3);
        pixelToRgb(b, out, p * 3 + 3);
        pixelToRgb(c, out, p * 3 + 6);
        pixelToRgb(d, out, p * 3 + 9);
      }
    }
  }
  for (; p < pixels; p++) pixelToRgb(words[p], out, p * 3);
  return out;
}

/**
 * Whether OpenSlide's ARGB words lie in memory as B, G, R, A (a little-endian machine, 4-byte aligned) with every
 * alpha 255: then they are layout 'bgrx' as they are (types.ts), and nothing needs compositing over white.
 */
export function isOpaqueBgrx(argb: Buffer, pixels: number): boolean {
  if (!LITTLE_ENDIAN || argb.byteOffset % 4 !== 0) return false;
  const words = new Uint32Array(argb.buffer, argb.byteOffset, pixels);
  let all = -1;
  for (let p = 0; p < pixels; p++) all &= words[p];
  return all >>> 24 === 255;
}

function pixelToRgb(w: number, out: Buffer, o: number): void {
  if (w >>> 24 === 255) {
    out[o] = w >>> 16;
    out[o + 1] = w >>> 8;
    out[o + 2] = w;
  } else {
    const white = 255 - (w >>> 24);
    out[o] = Math.min(255, ((w >>> 16) & 255) + white);
    out[o + 1] = Math.min(255, ((w >>> 8) & 255) + white);
    out[o + 2] = Math.min(255, (w & 255) + white);
  }
}

/**
 * Micrometres per pixel from resolution tags, or undefined when implausible for a microscope scan: writers put
 * 72 dpi (352 um/px) in files that were never measured.
 */
export function plausibleMpp(x: number, y: number): { x: number; y: number } | undefined {
  const ok = (v: number) => Number.isFinite(v) && v > 0.01 && v < 50;
  return ok(x) && ok(y) ? { x, y } : undefined;
}
