/**
 * One tf.train.Example per patient: the tiles of all the patient's slides (manifest order, then tile order)
 * concatenated, the colour histogram averaged over all those tiles, and the tabular fields.
 */
import {
  EMBEDDING_VECTORS,
  encodePatientRecord,
  HISTOGRAM_BINS,
  type EmbeddingVector,
  type PatientRecord,
  type VectorTensors,
} from '../../shared/contract/index.js';
import type { PatientTiles, SlideTensors } from './patient-tiles.js';

export interface PatientFields {
  patientId: string;
  centerId: number;
  /** Index into the sorted label names; undefined in an inference set. */
  label?: number;
}

/** The vectors that slides or tiles carry (EMBEDDING_VECTORS order). */
function vectorsIn(x: VectorTensors): EmbeddingVector[] {
  return EMBEDDING_VECTORS.filter((v) => x[v] !== undefined);
}

/** Concatenate separately loaded slides (merge itself reads a patient's slides straight into one set of arrays). */
export function combineSlides(slides: SlideTensors[], dim: number): PatientTiles {
  const vectors = slides.length ? vectorsIn(slides[0]) : [];
  const tilesPerSlide = slides.map((s) => {
    const n = s.loc.length / 2;
    const lengths = vectors.map((v) => `${v} ${s[v]?.length}`).join(', ');
    if (!Number.isInteger(n) || vectors.some((v) => s[v]?.length !== n * dim) || vectorsIn(s).length !== vectors.length)
      throw new Error(
        `slide '${s.slideId}': embeddings do not match dimension ${dim} (${lengths}, loc ${s.loc.length} values)`,
      );
    return n;
  });
  const numTiles = tilesPerSlide.reduce((a, b) => a + b, 0);
  const out: PatientTiles = {
    slideIds: slides.map((s) => s.slideId),
    tilesPerSlide,
    ...Object.fromEntries(vectors.map((v) => [v, new Float32Array(numTiles * dim)])),
    loc: new Int32Array(numTiles * 2),
    histogramSum: new Float64Array(HISTOGRAM_BINS),
    histogramCount: 0,
  };
  let t = 0;
  slides.forEach((s, i) => {
    for (const v of vectors) out[v]!.set(s[v]!, t * dim);
    out.loc.set(s.loc, t * 2);
    for (let b = 0; b < HISTOGRAM_BINS; b++) out.histogramSum[b] += s.histogramSum[b];
    out.histogramCount += s.histogramCount;
    t += tilesPerSlide[i];
  });
  return out;
}

/** The record of a patient from its tiles (the layout is shared/contract/patient-example.ts). */
export function patientRecordOf(patient: PatientFields, tiles: PatientTiles, dim: number): PatientRecord {
  const numTiles = tiles.tilesPerSlide.reduce((a, b) => a + b, 0);
  if (numTiles === 0)
    throw new Error(`patient '${patient.patientId}': no slides with tiles; such a patient is dropped, not written`);
  const vectors = vectorsIn(tiles);
  if (
    !vectors.length ||
    vectors.some((v) => tiles[v]!.length !== numTiles * dim) ||
    tiles.loc.length !== numTiles * 2
  ) {
    throw new Error(
      `patient '${patient.patientId}': ${numTiles} tiles of dimension ${dim}, but ${vectors.map((v) => `${v} has ${tiles[v]!.length}, `).join('')}loc ${tiles.loc.length} values`,
    );
  }
  const tileSlide = new Array<number>(numTiles);
  const locX = new Array<number>(numTiles);
  const locY = new Array<number>(numTiles);
  let t = 0;
  tiles.tilesPerSlide.forEach((n, si) => {
    for (let i = 0; i < n; i++, t++) {
      tileSlide[t] = si;
      locX[t] = tiles.loc[2 * t];
      locY[t] = tiles.loc[2 * t + 1];
    }
  });
  // The mean of per-tile histograms (each sums to 1) over every tile of the patient.
  const histogram = new Float32Array(HISTOGRAM_BINS);
  if (tiles.histogramCount > 0)
    for (let b = 0; b < HISTOGRAM_BINS; b++) histogram[b] = tiles.histogramSum[b] / tiles.histogramCount;

  return {
    patientId: patient.patientId,
    centerId: patient.centerId,
    label: patient.label,
    numTiles,
    embeddingDim: dim,
    // a vector the dataset does not have: empty, and left out of the record (patient-example.ts)
    embeddingAvg: tiles.avg ?? new Float32Array(0),
    embeddingMax: tiles.max ?? new Float32Array(0),
    ...(tiles.cls ? { embeddingCls: tiles.cls } : {}),
    colorHistogram: histogram,
    slideIds: tiles.slideIds,
    tileSlide,
    tileLocX: locX,
    tileLocY: locY,
  };
}

/** The serialized record of a patient, from its slides loaded one by one or its tiles already concatenated. */
export function encodePatient(patient: PatientFields, slides: SlideTensors[] | PatientTiles, dim: number): Buffer {
  if (Array.isArray(slides) && slides.length === 0)
    throw new Error(`patient '${patient.patientId}': no slides with tiles; such a patient is dropped, not written`);
  return encodePatientRecord(
    patientRecordOf(patient, Array.isArray(slides) ? combineSlides(slides, dim) : slides, dim),
  );
}

/** Size of a record from counts alone, for planning shards before anything is loaded. */
export function estimateRecordBytes(numTiles: number, dim: number, slideIdBytes: number, vectors = 2): number {
  // Floats dominate; per-tile int64s are at most ~5 varint bytes each for realistic coordinates.
  return vectors * numTiles * dim * 4 + numTiles * 12 + HISTOGRAM_BINS * 4 + slideIdBytes + 512;
}
