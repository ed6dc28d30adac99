/**
 * Physical tiles: the square read from a pyramid level (at least the output's resolution) resized to the stored
 * side and encoded in one libvips pass. Lanczos3, as slideflow and TIAToolbox resize tiles with an area-preserving
 * filter; the pixels are not those of a level-0 read resized elsewhere (a tolerance, stated in the tests).
 */
import sharp from 'sharp';
import type { TileFormat } from '../../shared/image.js';
import type { RgbImage } from '../../shared/slide/index.js';

export function encodeResized(img: RgbImage, side: number, format: TileFormat, quality = 95): Promise<Buffer> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(side, side, { kernel: 'lanczos3', fit: 'fill' });
  // The same encoder settings as encodeRgb, so a resized tile differs from a level-0 one only by its pixels.
  return format === 'jpeg' ? s.jpeg({ quality, optimiseCoding: false }).toBuffer() : s.png({ compressionLevel: 6 }).toBuffer();
}
