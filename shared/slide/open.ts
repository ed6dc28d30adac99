/**
 * Open a whole-slide image with the reader that can: OpenSlide for what it recognises (vendor formats, tiled
 * TIFF), libvips for the rest (plain or OME TIFF, big JPEG/PNG) and when OpenSlide recognises a file it then
 * cannot open.
 */
import { statSync } from 'node:fs';
import { findSlideFile } from './find-slide.js';
import { OpenSlideSlide, openSlideVendor } from './openslide-slide.js';
import { SlideOpenError, type Slide } from './types.js';
import { VipsSlide } from './vips-slide.js';

export interface OpenOptions {
  /** Force a reader instead of choosing. */
  reader?: 'openslide' | 'libvips';
}

/** Open `path`, a slide file or a slide folder holding one. Throws SlideOpenError for bad input. */
export async function openSlide(path: string, options: OpenOptions = {}): Promise<Slide> {
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = findSlideFile(path);
  } catch (err) {
    if (err instanceof SlideOpenError) throw err;
    throw new SlideOpenError(path, (err as Error).message);
  }
  if (options.reader === 'libvips') return VipsSlide.open(file);
  if (options.reader === 'openslide') return OpenSlideSlide.open(file);

  const vendor = openSlideVendor(file);
  if (vendor === null) {
    try {
      return await VipsSlide.open(file);
    } catch (err) {
      throw new SlideOpenError(
        file,
        `OpenSlide does not recognise the format, and ${(err as SlideOpenError).why ?? (err as Error).message}`,
      );
    }
  }
  try {
    return OpenSlideSlide.open(file);
  } catch (err) {
    if (!(err instanceof SlideOpenError)) throw err;
    try {
      return await VipsSlide.open(file);
    } catch (vipsErr) {
      const why = vipsErr instanceof SlideOpenError ? vipsErr.why : (vipsErr as Error).message;
      throw new SlideOpenError(file, `${err.why} (vendor ${vendor}); ${why}`);
    }
  }
}
