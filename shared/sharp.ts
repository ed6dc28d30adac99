/**
 * sharp (libvips), loaded on first use. Importing it takes ~0.2 s of a stage process's start, and the tile paths
 * most stages run (JPEG through TurboJPEG, stored PNG) never call it: only slides libvips reads, QC pictures and
 * unusual tiles (grey or CMYK JPEG, filtered PNG, resizing) do. Its cache is off: every image is seen once.
 */
import type Sharp from 'sharp';

export type SharpFn = typeof Sharp;

let loading: Promise<SharpFn> | undefined;

export function loadSharp(): Promise<SharpFn> {
  loading ??= import('sharp').then((m) => {
    m.default.cache(false);
    return m.default;
  });
  return loading;
}
