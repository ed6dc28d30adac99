/** Pixel format conversions and pixel-size facts shared by the readers. */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * OpenSlide's premultiplied ARGB (one native-endian uint32 per pixel) to RGB composited over white:
 * premultiplied colour plus (255 - alpha) of white. Opaque pixels are unchanged; transparent ones (outside the
 * scanned area) become white, as a pathologist sees the glass.
 */
export function premultipliedArgbToRgb(argb: Buffer, pixels: number, out: Buffer = Buffer.allocUnsafe(pixels * 3)): Buffer {
  // Byte order in memory of 0xAARRGGBB: B G R A on little-endian machines, A R G B on big-endian ones.
  const [ib, ig, ir, ia] = LITTLE_ENDIAN ? [0, 1, 2, 3] : [3, 2, 1, 0];
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += 4, o += 3) {
    const a = argb[i + ia];
    if (a === 255) {
      out[o] = argb[i + ir];
      out[o + 1] = argb[i + ig];
      out[o + 2] = argb[i + ib];
    } else {
      const white = 255 - a;
      out[o] = Math.min(255, argb[i + ir] + white);
      out[o + 1] = Math.min(255, argb[i + ig] + white);
      out[o + 2] = Math.min(255, argb[i + ib] + white);
    }
  }
  return out;
}

/**
 * Micrometres per pixel from resolution tags, or undefined when implausible for a microscope scan: writers put
 * 72 dpi (352 um/px) in files that were never measured.
 */
export function plausibleMpp(x: number, y: number): { x: number; y: number } | undefined {
  const ok = (v: number) => Number.isFinite(v) && v > 0.01 && v < 50;
  return ok(x) && ok(y) ? { x, y } : undefined;
}
