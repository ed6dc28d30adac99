/** Pixel format conversions and pixel-size facts shared by the readers. */
/**
 * OpenSlide's premultiplied ARGB (one native-endian uint32 per pixel) to RGB composited over white:
 * premultiplied colour plus (255 - alpha) of white. Opaque pixels are unchanged; transparent ones (outside the
 * scanned area) become white, as a pathologist sees the glass. Reads whole words (0xAARRGGBB on any byte
 * order): this runs on every tile.
 */
export function premultipliedArgbToRgb(argb: Buffer, pixels: number, out: Buffer = Buffer.allocUnsafe(pixels * 3)): Buffer {
  const words =
    argb.byteOffset % 4 === 0
      ? new Uint32Array(argb.buffer, argb.byteOffset, pixels)
      : new Uint32Array(Uint8Array.from(argb.subarray(0, pixels * 4)).buffer);
  for (let p = 0, o = 0; p < pixels; p++, o += 3) {
    const w = words[p];
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
