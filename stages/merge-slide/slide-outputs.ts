/**
 * What the upstream stages left for one slide: embeddings and histogram (headers only at survey time, so a cohort
 * is surveyed without loading its tensors), an error.json from any stage, or nothing yet; plus tile-detect's counts
 * when its output is mounted. Loading the tensors happens later, one patient at a time, in merge-shard
 * (patient-tiles.ts).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkEmbeddingsHeader,
  checkHistogramTensors,
  EMBEDDINGS_FILE,
  HISTOGRAM_FILE,
  isDefaultVectors,
  readTilesJson,
  TILES_JSON,
  type SlideError,
  type TilesJson,
} from '../../shared/contract/index.js';
import { readSafetensors, readSafetensorsHeader } from '../../shared/safetensors.js';
import { readSlideError } from '../../shared/slide-error.js';
import type { DetectCounts, SlideOutcome } from '../cohort/merge-file-types.js';

export interface StageDirs {
  embed: string;
  histogram: string;
  /** tile-detect's output, for the per-slide counts; optional. */
  tileDetect?: string;
}

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

/** Slide folders present in a stage's output (for slides with outputs but no manifest row). */
export function slideFolders(dir: string | undefined): string[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
}
