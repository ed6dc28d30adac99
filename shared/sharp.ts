/**
 * sharp (libvips), loaded on first use. Loading it takes ~0.1 s of CPU, and the tile paths most stages run (JPEG
 * through TurboJPEG, stored PNG) never call it: only slides libvips reads, QC pictures and unusual tiles (grey or CMYK
 * JPEG, filtered PNG, resizing) do. It is loaded with require(), its CommonJS build: ~0.08 s of CPU against ~0.27 s
 * for an ES import, its ES build (a fresh process, the median of nine). Its cache is off: every image is seen once.
 */
import { createRequire } from 'node:module';
import type Sharp from 'sharp';

export type SharpFn = typeof Sharp;

let loaded: SharpFn | undefined;

export async function loadSharp(): Promise<SharpFn> {
  if (!loaded) {
    const sharp = createRequire(import.meta.url)('sharp') as SharpFn;
    sharp.cache(false);
    loaded = sharp;
  }
  return loaded;
}
