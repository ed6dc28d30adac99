/**
 * Pixel helpers for tiles: decode an encoded tile to packed RGB, encode it back, and downscale for a model.
 * RGB buffers are row-major HWC, 3 bytes per pixel.
 */
import { turboJpeg } from './jpeg-turbo.js';
import { decodePlainPng, encodePng } from './png.js';
import { loadSharp } from './sharp.js';
import type { RgbImage } from './slide/types.js';

/** Pixels of PixelLayout 'bgrx' (shared/slide/types.ts): 4 bytes each, blue, green, red, an ignored byte. */
export interface BgrxImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export type TileFormat = 'jpeg' | 'png';

/** JPEG or PNG from the first bytes; undefined for anything else. */
export function imageFormatOf(buf: Uint8Array): TileFormat | undefined {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47) return 'png';
  return undefined;
}

/**
 * Width and height from a PNG's IHDR or a JPEG's frame header (SOF), without decoding; undefined for other bytes
 * or a header cut short.
 */
export function imageSize(buf: Uint8Array): { width: number; height: number } | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const format = imageFormatOf(b);
  if (format === 'png') {
    if (b.length < 24 || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  if (format !== 'jpeg') return undefined;
  for (let p = 2; p + 4 <= b.length; ) {
    if (b[p] !== 0xff) return undefined;
    const marker = b[p + 1];
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2; // no length
      continue;
    }
    const len = b.readUInt16BE(p + 2);
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (p + 9 > b.length) return undefined;
      return { width: b.readUInt16BE(p + 7), height: b.readUInt16BE(p + 5) };
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // no frame header before the scan
    p += 2 + len;
  }
  return undefined;
}

/**
 * Decode any image sharp reads to 8-bit sRGB without alpha. `into(bytes)`: the buffer for the pixels of a plain
 * PNG or a JPEG (one used before spares the page faults of new memory); other images bring their own.
 */
export async function decodeRgb(image: Uint8Array, into?: (bytes: number) => Buffer): Promise<RgbImage> {
  // Unfiltered RGB PNGs (normalize's tiles) are a copy (stored blocks) or an inflate and a copy: ~10x less CPU than
  // libvips' PNG reader
  const format = imageFormatOf(image);
  const plainPng = format === 'png' ? decodePlainPng(image, into) : undefined;
  if (plainPng) return plainPng;
  // JPEG through TurboJPEG directly: libvips' own decoder, without its pipeline (half the CPU of a 448 px tile)
  const turbo = format === 'jpeg' ? turboJpeg() : undefined;
  if (turbo) {
    const img = await turbo.decodeRgb(image, into);
    if (img) return img;
  }
  // Fast path: tiles are 8-bit RGB JPEG/PNG, which decode to RGB as they are (half the time of the full chain).
  const sharp = await loadSharp();
  const plain = await sharp(image, { limitInputPixels: false })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (plain.info.channels === 3 && plain.data.length === plain.info.width * plain.info.height * 3) {
    return { data: plain.data, width: plain.info.width, height: plain.info.height };
  }
  const { data, info } = await sharp(image, { limitInputPixels: false })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded image has ${info.channels} channels, expected 3 (RGB)`);
  return { data, width: info.width, height: info.height };
}

/** JPEG chroma: 4:4:4 keeps full-resolution colour; 4:2:0 halves it both ways (smaller, shifts thin H&E detail). */
export const JPEG_CHROMAS = ['4:4:4', '4:2:0'] as const;
export type JpegChroma = (typeof JPEG_CHROMAS)[number];

export interface TileEncoding {
  /** JPEG quality, 1..100. */
  quality: number;
  /**
   * JPEG chroma subsampling. 4:4:4 by default: on CMU-1 tiles at q95, 4:2:0 differs from the slide by mean 5.3 /
   * max 96 levels (PSNR 30.5 dB), 4:4:4 by 1.5 / 21 (41.4 dB), for ~50% more bytes (scripts/bench/e2e.ts).
   * slideflow writes tiles with libvips, which turns subsampling off at quality >= 90 as well.
   */
  chroma: JpegChroma;
  /**
   * zlib level of PNG, 0..9. 0 (stored) costs 1.1 ms to write and 0.7 ms to read per 448 px tile, against 7.2 and
   * 3.6 ms at level 1, for 588 KiB instead of 339 KiB (CMU-1 tiles, scripts/bench/png.ts); 6 is ~3x slower than 1.
   */
  pngLevel: number;
}

export const DEFAULT_TILE_ENCODING: TileEncoding = { quality: 95, chroma: '4:4:4', pngLevel: 0 };

/**
 * Encode packed RGB as JPEG or PNG, optionally resized to a square side first. Huffman table optimisation is off: it
 * only makes files a few percent smaller and doubles the encode time. `into(bytes)`: the buffer a stored PNG is
 * written into (one used before spares the page faults of new memory); other encodings bring their own.
 */
export async function encodeRgb(
  img: RgbImage,
  format: TileFormat,
  encoding: Partial<TileEncoding> = {},
  resizeTo?: number,
  into?: (bytes: number) => Buffer,
): Promise<Buffer> {
  const e = { ...DEFAULT_TILE_ENCODING, ...encoding };
  const resized = resizeTo !== undefined && (resizeTo !== img.width || resizeTo !== img.height);
  // Stored PNG is written here; zlib's deflate at level >= 1 is ~2x slower than libvips' (zlib-ng), so that stays.
  if (format === 'png' && e.pngLevel === 0 && !resized) return encodePng(img, 0, into);
  // JPEG through TurboJPEG: the bytes libvips writes (jpeg-turbo.ts), in half the CPU
  const turbo = format === 'jpeg' && !resized ? turboJpeg() : undefined;
  if (turbo) return turbo.encodeRgb(img, e.quality, e.chroma);
  const sharp = await loadSharp();
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  // Physical tiles: a square read from a pyramid level, resized to the stored side in the same libvips pass.
  // Lanczos3, the area-preserving filter slideflow and TIAToolbox resize tiles with.
  if (resized) {
    s = s.resize(resizeTo!, resizeTo, { kernel: 'lanczos3', fit: 'fill' });
  }
  return format === 'jpeg'
    ? s.jpeg({ quality: e.quality, chromaSubsampling: e.chroma, optimiseCoding: false }).toBuffer()
    : s.png({ compressionLevel: e.pngLevel }).toBuffer();
}

/**
 * JPEG straight from 'bgrx' pixels (an OpenSlide read of opaque pixels), the bytes encodeRgb writes for their RGB,
 * without converting them to RGB first; undefined where TurboJPEG is absent (then read RGB and use encodeRgb).
 */
export function bgrxJpegEncoder():
  | ((img: BgrxImage, encoding: Pick<TileEncoding, 'quality' | 'chroma'>) => Promise<Buffer>)
  | undefined {
  const turbo = turboJpeg();
  if (!turbo) return undefined;
  return (img, e) => turbo.encode({ ...img, layout: 'bgrx' }, e.quality, e.chroma);
}

/**
 * Bring a tile to size x size for a model. Exact integer ratios (448 -> 224, 224 -> 224) keep the bytes and say
 * `k`: the k x k mean is taken while the model input is filled (fillInput), in the same pass (the only k x k mean:
 * at k = 2 it equals TensorFlow's bilinear resize by exactly 1/2 with half-pixel centres, as the original used). Anything else uses
 * sharp's resize with a linear kernel on 8-bit pixels (not exact; documented in the README), and k = 1.
 */
export async function resizeForModel(
  img: RgbImage,
  size: number,
): Promise<{ data: Uint8Array; k: number; method: string }> {
  if (img.width === img.height && img.width % size === 0) {
    const k = img.width / size;
    return { data: img.data, k, method: k === 1 ? 'none' : `${k}x${k}-mean` };
  }
  return { data: await resizeLinear(img, size), k: 1, method: 'sharp-linear' };
}

/** sharp's resize with a linear kernel on 8-bit pixels, to side x side (not exact; for tiles of no integer ratio). */
export async function resizeLinear(img: RgbImage, side: number): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(side, side, { kernel: 'linear', fit: 'fill' })
    .raw()
    .toBuffer();
}
