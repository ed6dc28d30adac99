/**
 * What the upstream stages left for one slide: embeddings and histogram (headers only at survey time, so a cohort
 * is surveyed without loading its tensors), an error.json from any stage, or nothing yet; plus tile-detect's counts
 * when its output is mounted. Loading the tensors of one slide happens later, one patient at a time.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkEmbeddingsHeader,
  checkHistogramTensors,
  EMBEDDINGS_FILE,
  HISTOGRAM_BINS,
  HISTOGRAM_FILE,
  readTilesJson,
  TILES_JSON,
  type SlideError,
  type TilesJson,
} from '../../shared/contract/index.js';
import { readSafetensors, readSafetensorsHeader, type HeaderEntry } from '../../shared/safetensors.js';
import { readSlideError } from '../../shared/slide-error.js';

export interface StageDirs {
  embed: string;
  histogram: string;
  /** tile-detect's output, for the per-slide counts; optional. */
  tileDetect?: string;
}

/** tile-detect's counts for a slide, and its explanation when it kept no tile. */
export type DetectCounts = TilesJson['counts'] & { reason?: string };

export type SlideOutcome =
  | {
      status: 'ok';
      slideId: string;
      tiles: number;
      dim: number;
      embedMeta: Record<string, string>;
      histogramMeta: Record<string, string>;
      detect?: DetectCounts;
    }
  | { status: 'error'; slideId: string; error: SlideError; detect?: DetectCounts }
  /** `missing`: no stage has written anything for the slide yet (as opposed to outputs that cannot be used). */
  | { status: 'excluded'; slideId: string; why: string; missing?: true; detect?: DetectCounts };

/** tiles.json's counts; undefined when the slide has none or it cannot be read (the counts only inform the report). */
export function readDetectCounts(slideDir: string): DetectCounts | undefined {
  const file = join(slideDir, TILES_JSON);
  if (!existsSync(file)) return undefined;
  try {
    const { counts, reason } = readTilesJson(file);
    return { ...counts, reason };
  } catch {
    return undefined;
  }
}

function slideError(dirs: StageDirs, slideId: string): SlideError | undefined {
  // Most downstream first: its error.json carries the path it was passed along.
  for (const dir of [dirs.embed, dirs.histogram, dirs.tileDetect]) {
    if (!dir) continue;
    try {
      const e = readSlideError(join(dir, slideId));
      if (e) return e;
    } catch (err) {
      return {
        slide: slideId,
        stage: 'merge',
        what: 'unreadable error.json',
        why: (err as Error).message,
        passedThrough: [],
      };
    }
  }
  return undefined;
}

/** What is known about one slide's outputs, from headers only. */
export function surveySlide(dirs: StageDirs, slideId: string): SlideOutcome {
  const detect = dirs.tileDetect ? readDetectCounts(join(dirs.tileDetect, slideId)) : undefined;
  const error = slideError(dirs, slideId);
  if (error) return { status: 'error', slideId, error, detect };
  const embPath = join(dirs.embed, slideId, EMBEDDINGS_FILE);
  const histPath = join(dirs.histogram, slideId, HISTOGRAM_FILE);
  const missing = [
    existsSync(embPath) ? '' : `embed (${EMBEDDINGS_FILE})`,
    existsSync(histPath) ? '' : `histogram (${HISTOGRAM_FILE})`,
  ].filter(Boolean);
  if (missing.length)
    return { status: 'excluded', slideId, why: `no output yet from ${missing.join(' and ')}`, missing: true, detect };
  try {
    const emb = readSafetensorsHeader(embPath);
    const hist = readSafetensors(histPath); // small (16^3 bins): read whole for the tile count
    const { n, dim } = checkEmbeddingsHeader(emb.tensors);
    checkHistogramTensors(hist.tensors);
    const counted = Number(hist.tensors.count.data[0]);
    if (counted !== n)
      throw new Error(
        `${HISTOGRAM_FILE} counts ${counted} tiles but ${EMBEDDINGS_FILE} has ${n}; the two stages saw different tiles, re-run them`,
      );
    if (n === 0)
      return { status: 'excluded', slideId, why: `no tiles: ${detect?.reason ?? 'no tissue found'}`, detect };
    return { status: 'ok', slideId, tiles: n, dim, embedMeta: emb.metadata, histogramMeta: hist.metadata, detect };
  } catch (err) {
    return { status: 'excluded', slideId, why: `outputs not usable: ${(err as Error).message}`, detect };
  }
}

export interface SlideTensors {
  slideId: string;
  avg: Float32Array;
  max: Float32Array;
  /** [n, 2] x, y per tile, as embed wrote them. */
  loc: Int32Array;
  histogramSum: Float64Array;
  histogramCount: number;
}

function readHistogram(path: string): { histogramSum: Float64Array; histogramCount: number } {
  const hist = readSafetensors(path).tensors;
  const sum =
    hist.sum.data instanceof Float64Array ? hist.sum.data : Float64Array.from(hist.sum.data as ArrayLike<number>);
  return { histogramSum: sum, histogramCount: Number(hist.count.data[0]) };
}

/** All tiles of one patient, slides concatenated in order (what a record holds, before encoding). */
export interface PatientTiles {
  slideIds: string[];
  tilesPerSlide: number[];
  /** [numTiles * dim] each. */
  avg: Float32Array;
  max: Float32Array;
  /** [numTiles * 2]: x, y per tile. */
  loc: Int32Array;
  histogramSum: Float64Array;
  histogramCount: number;
}

/**
 * Grow-only buffers reused from patient to patient: the record encoder copies out of them, so reuse is safe and
 * spares the garbage collector ~2 x numTiles x dim x 4 bytes per patient.
 */
export class TileBuffers {
  private avg = new Float32Array(0);
  private max = new Float32Array(0);
  private loc = new Int32Array(0);

  views(numTiles: number, dim: number): { avg: Float32Array; max: Float32Array; loc: Int32Array } {
    const n = numTiles * dim;
    if (this.avg.length < n) {
      this.avg = new Float32Array(n);
      this.max = new Float32Array(n);
    }
    if (this.loc.length < numTiles * 2) this.loc = new Int32Array(numTiles * 2);
    return { avg: this.avg.subarray(0, n), max: this.max.subarray(0, n), loc: this.loc.subarray(0, numTiles * 2) };
  }
}

/** Read a tensor's bytes from the file straight into `into` (no intermediate buffer). */
function readTensorInto(
  fd: number,
  path: string,
  base: number,
  entry: HeaderEntry,
  into: Float32Array | Int32Array,
): void {
  const [begin, end] = entry.data_offsets;
  if (end - begin !== into.byteLength)
    throw new Error(`${path}: tensor holds ${end - begin} bytes, expected ${into.byteLength} (shape [${entry.shape}])`);
  const view = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  let done = 0;
  while (done < view.length) {
    const n = readSync(fd, view, done, view.length - done, base + begin + done);
    if (n === 0) throw new Error(`${path}: file ends inside a tensor`);
    done += n;
  }
}

/** One patient's slides read into one set of concatenated arrays: each tensor byte is copied once, from the file. */
export function loadPatientTiles(
  dirs: StageDirs,
  slides: { slideId: string; tiles: number }[],
  dim: number,
  buffers = new TileBuffers(),
): PatientTiles {
  const numTiles = slides.reduce((a, s) => a + s.tiles, 0);
  const { avg, max, loc } = buffers.views(numTiles, dim);
  const histogramSum = new Float64Array(HISTOGRAM_BINS);
  let histogramCount = 0;
  let t = 0;
  for (const s of slides) {
    const path = join(dirs.embed, s.slideId, EMBEDDINGS_FILE);
    const header = readSafetensorsHeader(path);
    const n = header.tensors.avg?.shape[0];
    if (n !== s.tiles || header.tensors.avg.shape[1] !== dim)
      throw new Error(
        `${path}: avg is [${header.tensors.avg?.shape}], expected [${s.tiles}, ${dim}]; did the file change during merge?`,
      );
    const fd = openSync(path, 'r');
    try {
      const base = 8 + header.headerBytes;
      readTensorInto(fd, path, base, header.tensors.avg, avg.subarray(t * dim, (t + n) * dim));
      readTensorInto(fd, path, base, header.tensors.max, max.subarray(t * dim, (t + n) * dim));
      readTensorInto(fd, path, base, header.tensors.loc, loc.subarray(t * 2, (t + n) * 2));
    } finally {
      closeSync(fd);
    }
    const h = readHistogram(join(dirs.histogram, s.slideId, HISTOGRAM_FILE));
    for (let b = 0; b < HISTOGRAM_BINS; b++) histogramSum[b] += h.histogramSum[b];
    histogramCount += h.histogramCount;
    t += n;
  }
  return {
    slideIds: slides.map((s) => s.slideId),
    tilesPerSlide: slides.map((s) => s.tiles),
    avg,
    max,
    loc,
    histogramSum,
    histogramCount,
  };
}

/** Slide folders present in a stage's output (for slides with outputs but no manifest row). */
export function slideFolders(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}
