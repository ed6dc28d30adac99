/**
 * One tf.train.Example per patient: the tiles of all the patient's slides (manifest order, then tile order)
 * concatenated, the colour histogram averaged over all those tiles, and the tabular fields.
 */
import { encodeExample, type Features } from '../../shared/example.js';
import { HISTOGRAM_BINS } from '../../shared/dataset-reader.js';
import type { SlideTensors } from './slide-outputs.js';

export interface PatientFields {
  patientId: string;
  centerId: number;
  /** Index into the sorted label names; undefined in an inference set. */
  label?: number;
}

export function patientFeatures(patient: PatientFields, slides: SlideTensors[], dim: number): Features {
  if (slides.length === 0) throw new Error(`patient '${patient.patientId}': no slides with tiles; such a patient is dropped, not written`);
  let numTiles = 0;
  for (const s of slides) {
    const n = s.avg.length / dim;
    if (!Number.isInteger(n) || s.max.length !== s.avg.length || s.loc.length !== 2 * n) {
      throw new Error(`slide '${s.slideId}': embeddings do not match dimension ${dim} (avg ${s.avg.length}, max ${s.max.length}, loc ${s.loc.length} values)`);
    }
    numTiles += n;
  }
  const avg = new Float32Array(numTiles * dim);
  const max = new Float32Array(numTiles * dim);
  const tileSlide = new Array<number>(numTiles);
  const locX = new Array<number>(numTiles);
  const locY = new Array<number>(numTiles);
  const histSum = new Float64Array(HISTOGRAM_BINS);
  let histCount = 0;
  let t = 0;
  slides.forEach((s, si) => {
    avg.set(s.avg, t * dim);
    max.set(s.max, t * dim);
    const n = s.avg.length / dim;
    for (let i = 0; i < n; i++) {
      tileSlide[t + i] = si;
      locX[t + i] = s.loc[2 * i];
      locY[t + i] = s.loc[2 * i + 1];
    }
    t += n;
    for (let b = 0; b < HISTOGRAM_BINS; b++) histSum[b] += s.histogramSum[b];
    histCount += s.histogramCount;
  });
  // The mean of per-tile histograms (each sums to 1) over every tile of the patient.
  const histogram = new Float32Array(HISTOGRAM_BINS);
  if (histCount > 0) for (let b = 0; b < HISTOGRAM_BINS; b++) histogram[b] = histSum[b] / histCount;

  return {
    patient_id: { bytes: [patient.patientId] },
    center_id: { int64: [patient.centerId] },
    ...(patient.label !== undefined ? { label: { int64: [patient.label] } } : {}),
    num_tiles: { int64: [numTiles] },
    embedding_dim: { int64: [dim] },
    embedding_avg: { float: avg },
    embedding_max: { float: max },
    color_histogram: { float: histogram },
    slide_ids: { bytes: slides.map((s) => s.slideId) },
    tile_slide: { int64: tileSlide },
    tile_loc_x: { int64: locX },
    tile_loc_y: { int64: locY },
  };
}

export function encodePatientRecord(patient: PatientFields, slides: SlideTensors[], dim: number): Buffer {
  return encodeExample(patientFeatures(patient, slides, dim));
}

/** Upper-bound-ish size of a record, from counts alone, for planning shards before anything is loaded. */
export function estimateRecordBytes(numTiles: number, dim: number, slideIdBytes: number): number {
  // Floats dominate; per-tile int64s are at most ~5 varint bytes each for realistic coordinates.
  return 2 * numTiles * dim * 4 + numTiles * 12 + HISTOGRAM_BINS * 4 + slideIdBytes + 512;
}
