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
  DEFAULT_EMBEDDING_VECTORS,
  isDefaultVectors,
  type EmbeddingVector,
  EMBEDDINGS_FILE,
  HISTOGRAM_BINS,
  HISTOGRAM_FILE,
  readTilesJson,
  TILES_JSON,
  type VectorTensors,
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
      /** The pooled vectors embed wrote, when not the default avg and max (absent: those two). */
      vectors?: EmbeddingVector[];
      /** Why the tiles' resolution does not fit the one the embed model was trained at (a warning). */
      geometry?: string;
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
    const { n, dim, vectors } = checkEmbeddingsHeader(emb.tensors);
    checkHistogramTensors(hist.tensors);
    const counted = Number(hist.tensors.count.data[0]);
    if (counted !== n)
      throw new Error(
        `${HISTOGRAM_FILE} counts ${counted} tiles but ${EMBEDDINGS_FILE} has ${n}; the two stages saw different tiles, re-run them`,
      );
    if (n === 0)
      return { status: 'excluded', slideId, why: `no tiles: ${detect?.reason ?? 'no tissue found'}`, detect };
    const geometry = dirs.tileDetect ? geometryWarning(join(dirs.tileDetect, slideId), emb.metadata) : undefined;
    return {
      status: 'ok',
      slideId,
      tiles: n,
      dim,
      ...(isDefaultVectors(vectors) ? {} : { vectors }),
      ...(geometry ? { geometry } : {}),
      embedMeta: emb.metadata,
      histogramMeta: hist.metadata,
      detect,
    };
  } catch (err) {
    return { status: 'excluded', slideId, why: `outputs not usable: ${(err as Error).message}`, detect };
  }
}

/** The vectors of an ok outcome: its own list, or the default avg and max. */
export function vectorsOf(o: { vectors?: EmbeddingVector[] }): readonly EmbeddingVector[] {
  return o.vectors ?? DEFAULT_EMBEDDING_VECTORS;
}

/** Relative gap between the tiles' resolution and the model's beyond which merge warns, unless the card says. */
export const GEOMETRY_TOLERANCE = 0.1;

/**
 * The warning when the embed model's card states the resolution it was trained at (embed's metadata model_mpp) and
 * the slide's tiles, as the model sees them, are at another: the tile's side in micrometres (tiles.json) over the
 * model's input size. undefined when they agree, or the card states none.
 */
export function geometryWarning(tileDetectSlideDir: string, embedMeta: Record<string, string>): string | undefined {
  const modelMpp = Number(embedMeta.model_mpp);
  if (!embedMeta.model_mpp || !(modelMpp > 0)) return undefined;
  const inputSize = Number(embedMeta.model_input_size);
  const trained = `trained at ${modelMpp} um/px (${embedMeta.model_size} px)`;
  const file = join(tileDetectSlideDir, TILES_JSON);
  if (!existsSync(file)) return undefined;
  let tiles: TilesJson;
  try {
    tiles = readTilesJson(file);
  } catch {
    return undefined;
  }
  const slideMpp = tiles.physical?.mpp ?? tiles.source.mpp?.x;
  if (!slideMpp)
    return `the slide states no resolution, so the tiles cannot be checked against the embed model, ${trained}`;
  const tileUm = tiles.physical ? tiles.physical.tile_um : tiles.params.tile_size * slideMpp;
  const seen = tileUm / inputSize;
  const card = embedMeta.model_card ? (JSON.parse(embedMeta.model_card) as { geometry?: { tolerance?: number } }) : {};
  const tolerance = card.geometry?.tolerance ?? GEOMETRY_TOLERANCE;
  if (Math.abs(seen - modelMpp) / modelMpp <= tolerance) return undefined;
  const px = tiles.physical ? tiles.physical.output_px : tiles.params.tile_size;
  return (
    `the embed model was ${trained}, but its tiles are ${round(seen)} um/px ` +
    `(${px} px tiles of ${round(tileUm)} um brought to ${inputSize} px), ${Math.round((100 * Math.abs(seen - modelMpp)) / modelMpp)}% off ` +
    `(tolerance ${Math.round(100 * tolerance)}%); tiles of the model's field are tile-detect's TILE_UM=${round(modelMpp * inputSize)}`
  );
}

const round = (x: number) => Number(x.toPrecision(3));

export interface SlideTensors extends VectorTensors {
  slideId: string;
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
export interface PatientTiles extends VectorTensors {
  slideIds: string[];
  tilesPerSlide: number[];
  /** [numTiles * 2]: x, y per tile. */
  loc: Int32Array;
  histogramSum: Float64Array;
  histogramCount: number;
}

/**
 * Grow-only buffers reused from patient to patient: the record encoder copies out of them, so reuse is safe and
 * spares the garbage collector ~vectors x numTiles x dim x 4 bytes per patient.
 */
export class TileBuffers {
  private vectors: Partial<Record<EmbeddingVector, Float32Array>> = {};
  private loc = new Int32Array(0);

  views(
    numTiles: number,
    dim: number,
    vectors: readonly EmbeddingVector[] = DEFAULT_EMBEDDING_VECTORS,
  ): VectorTensors & { loc: Int32Array } {
    const n = numTiles * dim;
    const out: VectorTensors = {};
    for (const v of vectors) {
      if ((this.vectors[v]?.length ?? -1) < n) this.vectors[v] = new Float32Array(n);
      out[v] = this.vectors[v]!.subarray(0, n);
    }
    if (this.loc.length < numTiles * 2) this.loc = new Int32Array(numTiles * 2);
    return { ...out, loc: this.loc.subarray(0, numTiles * 2) };
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
  vectors: readonly EmbeddingVector[] = DEFAULT_EMBEDDING_VECTORS,
): PatientTiles {
  const numTiles = slides.reduce((a, s) => a + s.tiles, 0);
  const views = buffers.views(numTiles, dim, vectors);
  const histogramSum = new Float64Array(HISTOGRAM_BINS);
  let histogramCount = 0;
  let t = 0;
  for (const s of slides) {
    const path = join(dirs.embed, s.slideId, EMBEDDINGS_FILE);
    const header = readSafetensorsHeader(path);
    const first = header.tensors[vectors[0]];
    const n = first?.shape[0];
    if (n !== s.tiles || first.shape[1] !== dim)
      throw new Error(
        `${path}: ${vectors[0]} is [${first?.shape}], expected [${s.tiles}, ${dim}]; did the file change during merge?`,
      );
    const fd = openSync(path, 'r');
    try {
      const base = 8 + header.headerBytes;
      for (const v of vectors) {
        const entry = header.tensors[v];
        if (!entry) throw new Error(`${path}: no tensor ${v}; did the file change during merge?`);
        readTensorInto(fd, path, base, entry, views[v]!.subarray(t * dim, (t + n) * dim));
      }
      readTensorInto(fd, path, base, header.tensors.loc, views.loc.subarray(t * 2, (t + n) * 2));
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
    ...views,
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
