/**
 * Synthetic upstream outputs for merge tests: a PFS root with `manifest/`, `tile_detect/`, `embed/`, `histogram/`
 * and `out/`, slide outputs written with the project's own safetensors writer in the layouts DESIGN.md gives.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMBEDDINGS_FILE,
  embeddingTensors,
  HISTOGRAM_BINS,
  HISTOGRAM_FILE,
  histogramTensors,
  type TilesJson,
} from '../../shared/contract/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';
import { handMadeTilesJson, writeHandMadeTilesJson } from '../helpers/tiles-json.js';
import { readMergeConfig, type MergeConfig } from '../../stages/cohort/merge-config.js';

export interface PfsFixture {
  root: string;
  manifest: string;
  tileDetect: string;
  embed: string;
  histogram: string;
  out: string;
  cleanup(): void;
}

export function makePfs(name = 'merge'): PfsFixture {
  const { dir: root, cleanup } = tempDir(name);
  const dirs = {
    manifest: join(root, 'manifest'),
    tileDetect: join(root, 'tile_detect'),
    embed: join(root, 'embed'),
    histogram: join(root, 'histogram'),
    out: join(root, 'out'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  return { root, ...dirs, cleanup };
}

export interface SlideData {
  avg: Float32Array;
  max: Float32Array;
  loc: Int32Array;
  sum: Float64Array;
  count: number;
}

/** Deterministic, distinguishable values: every float encodes slide, tile and dimension. */
export function slideData(slideIndex: number, tiles: number, dim: number): SlideData {
  const avg = new Float32Array(tiles * dim);
  const max = new Float32Array(tiles * dim);
  for (let t = 0; t < tiles; t++) {
    for (let d = 0; d < dim; d++) {
      avg[t * dim + d] = slideIndex * 1000 + t + d / 1024;
      max[t * dim + d] = -(slideIndex * 1000 + t) - d / 1024;
    }
  }
  const loc = new Int32Array(tiles * 2);
  for (let t = 0; t < tiles; t++) {
    loc[2 * t] = 224 + 448 * t;
    loc[2 * t + 1] = 224 + 448 * slideIndex;
  }
  // Each tile's histogram sums to 1; put the mass in two slide-specific bins.
  const sum = new Float64Array(HISTOGRAM_BINS);
  sum[slideIndex % HISTOGRAM_BINS] += tiles * 0.75;
  sum[(slideIndex * 7 + 100) % HISTOGRAM_BINS] += tiles * 0.25;
  return { avg, max, loc, sum, count: tiles };
}

export function writeSlideOutputs(
  pfs: PfsFixture,
  slideId: string,
  data: SlideData,
  options: { histogramCount?: number; modelSha?: string } = {},
): void {
  const n = data.count;
  const dim = n > 0 ? data.avg.length / n : 0;
  writeSafetensors(
    join(pfs.embed, slideId, EMBEDDINGS_FILE),
    embeddingTensors({ n, dim, avg: data.avg, max: data.max, loc: data.loc }),
    {
      slide: slideId,
      model_sha256: options.modelSha ?? 'ab'.repeat(32),
      model_card: JSON.stringify({ name: 'test-model', output: { dim } }),
    },
  );
  writeSafetensors(
    join(pfs.histogram, slideId, HISTOGRAM_FILE),
    histogramTensors(data.sum, options.histogramCount ?? n),
    { slide: slideId },
  );
  writeTilesJson(pfs, slideId, { grid: n + 5, kept: n, dropped: { background: 5, max_tiles: 0 } });
}

/** tile-detect's output for a slide with these counts (and no tile list: merge reads only the counts). */
export function writeTilesJson(pfs: PfsFixture, slideId: string, counts: TilesJson['counts'], reason?: string): void {
  writeHandMadeTilesJson(join(pfs.tileDetect, slideId), handMadeTilesJson(slideId, { counts, reason }));
}

/** A slide that failed in tile-extract, passed on by the stages after it (error.json in each output). */
export function writeFailedSlide(pfs: PfsFixture, slideId: string, why = 'Bogus marker length'): void {
  const e = { stage: 'tile-extract', what: 'cannot read tiles', why, where: 'level 0 (448, 0)' };
  writeSlideError(pfs.embed, slideId, e);
  writeSlideError(pfs.histogram, slideId, e);
}

export function writeManifest(pfs: PfsFixture, csv: string, name = 'manifest.csv'): void {
  writeFileSync(join(pfs.manifest, name), csv);
}

export function config(env: Record<string, string> = {}): MergeConfig {
  return readMergeConfig(env);
}

export { projectRoot };
