/**
 * What the upstream stages left for one slide: embeddings and histogram (headers only at survey time, so a cohort
 * is surveyed without loading its tensors), an error.json from any stage, or nothing yet; plus tile-detect's counts
 * when its output is mounted. Loading the tensors of one slide happens later, one patient at a time.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readSafetensors } from '../../shared/safetensors.js';
import { readSlideError, type SlideError } from '../../shared/slide-error.js';

export const EMBEDDINGS_FILE = 'embeddings.safetensors';
export const HISTOGRAM_FILE = 'histogram.safetensors';
export const TILES_FILE = 'tiles.json';
export const HISTOGRAM_BINS = 4096;

export interface StageDirs {
  embed: string;
  histogram: string;
  /** tile-detect's output, for the per-slide counts; optional. */
  tileDetect?: string;
}

/** tile-detect's counts for a slide, read leniently: another stage defines tiles.json. */
export interface DetectCounts {
  grid?: number;
  kept?: number;
  dropped?: Record<string, number>;
}

export type SlideOutcome =
  | { status: 'ok'; slideId: string; tiles: number; dim: number; embedMeta: Record<string, string>; histogramMeta: Record<string, string>; detect?: DetectCounts }
  | { status: 'error'; slideId: string; error: SlideError; detect?: DetectCounts }
  | { status: 'excluded'; slideId: string; why: string; detect?: DetectCounts };

const HeaderEntry = z.object({ dtype: z.string(), shape: z.array(z.number().int().nonnegative()), data_offsets: z.tuple([z.number(), z.number()]) });

/** Read only a safetensors header (tensor shapes and metadata), never the tensor bytes. */
export function readSafetensorsHeader(path: string): { tensors: Record<string, z.infer<typeof HeaderEntry>>; metadata: Record<string, string> } {
  const fd = openSync(path, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${path}: not a safetensors file (shorter than 8 bytes)`);
    const len = Number(lenBuf.readBigUInt64LE(0));
    const size = statSync(path).size;
    if (len > size - 8 || len > 100 * 1024 * 1024) throw new Error(`${path}: header length ${len} does not fit the file (${size} bytes)`);
    const json = Buffer.alloc(len);
    readSync(fd, json, 0, len, 8);
    const header = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    const tensors: Record<string, z.infer<typeof HeaderEntry>> = {};
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      tensors[name] = HeaderEntry.parse(entry);
    }
    return { tensors, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
  } finally {
    closeSync(fd);
  }
}

const count = z.number().int().nonnegative();
const TilesJsonCounts = z.looseObject({
  grid: count.optional(),
  kept: z.union([count, z.array(z.unknown())]).optional(),
  dropped: z.union([count, z.record(z.string(), count)]).optional(),
});
const TilesJson = z.looseObject({
  counts: TilesJsonCounts.optional(),
  tiles: z.array(z.unknown()).optional(),
});

/** tiles.json's counts: `counts.{grid,kept,dropped}` or the same at the top level; undefined when unreadable. */
export function readDetectCounts(slideDir: string): DetectCounts | undefined {
  const file = join(slideDir, TILES_FILE);
  if (!existsSync(file)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  const top = TilesJson.safeParse(json);
  if (!top.success) return undefined;
  const c = top.data.counts ?? TilesJsonCounts.safeParse(json).data ?? {};
  const kept = typeof c.kept === 'number' ? c.kept : Array.isArray(c.kept) ? c.kept.length : top.data.tiles?.length;
  const dropped = typeof c.dropped === 'number' ? { total: c.dropped } : c.dropped;
  return { grid: c.grid, kept, dropped };
}

function slideError(dirs: StageDirs, slideId: string): SlideError | undefined {
  // Most downstream first: its error.json carries the path it was passed along.
  for (const dir of [dirs.embed, dirs.histogram, dirs.tileDetect]) {
    if (!dir) continue;
    try {
      const e = readSlideError(join(dir, slideId));
      if (e) return e;
    } catch (err) {
      return { slide: slideId, stage: 'merge', what: 'unreadable error.json', why: (err as Error).message, time: '', passedThrough: [] };
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
  const missing = [existsSync(embPath) ? '' : `embed (${EMBEDDINGS_FILE})`, existsSync(histPath) ? '' : `histogram (${HISTOGRAM_FILE})`].filter(Boolean);
  if (missing.length) return { status: 'excluded', slideId, why: `no output yet from ${missing.join(' and ')}`, detect };
  try {
    const emb = readSafetensorsHeader(embPath);
    const hist = readSafetensors(histPath); // small (16^3 bins): read whole for the tile count
    const { avg, max, loc } = emb.tensors;
    if (!avg || !max || !loc) throw new Error(`${EMBEDDINGS_FILE} needs tensors avg, max and loc; it has ${Object.keys(emb.tensors).join(', ')}`);
    if (avg.dtype !== 'F32' || max.dtype !== 'F32' || avg.shape.length !== 2 || max.shape.join() !== avg.shape.join()) {
      throw new Error(`${EMBEDDINGS_FILE}: avg and max must be F32 [n, D]; got avg ${avg.dtype} [${avg.shape}], max ${max.dtype} [${max.shape}]`);
    }
    const [n, dim] = avg.shape;
    if (loc.dtype !== 'I32' || loc.shape.join() !== `${n},2`) throw new Error(`${EMBEDDINGS_FILE}: loc must be I32 [${n}, 2]; got ${loc.dtype} [${loc.shape}]`);
    const { sum, count: histCount } = hist.tensors;
    if (!sum || !histCount) throw new Error(`${HISTOGRAM_FILE} needs tensors sum and count; it has ${Object.keys(hist.tensors).join(', ')}`);
    if (sum.shape.reduce((a, b) => a * b, 1) !== HISTOGRAM_BINS) throw new Error(`${HISTOGRAM_FILE}: sum must hold 16x16x16 bins; shape [${sum.shape}]`);
    const counted = Number(histCount.data[0]);
    if (counted !== n) throw new Error(`${HISTOGRAM_FILE} counts ${counted} tiles but ${EMBEDDINGS_FILE} has ${n}; the two stages saw different tiles, re-run them`);
    if (n === 0) return { status: 'excluded', slideId, why: 'no tiles (no tissue found)', detect };
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

/** Load one slide's tensors (called per patient, so only that patient's slides are in memory). */
export function loadSlideTensors(dirs: StageDirs, slideId: string): SlideTensors {
  const emb = readSafetensors(join(dirs.embed, slideId, EMBEDDINGS_FILE)).tensors;
  const hist = readSafetensors(join(dirs.histogram, slideId, HISTOGRAM_FILE)).tensors;
  const sum = hist.sum.data instanceof Float64Array ? hist.sum.data : Float64Array.from(hist.sum.data as ArrayLike<number>);
  const c = hist.count.data[0];
  return {
    slideId,
    avg: emb.avg.data as Float32Array,
    max: emb.max.data as Float32Array,
    loc: emb.loc.data as Int32Array,
    histogramSum: sum,
    histogramCount: typeof c === 'bigint' ? Number(c) : c,
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
