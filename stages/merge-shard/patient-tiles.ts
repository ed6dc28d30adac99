/** One patient's tiles, read from the slide links merge-slide put in the shard folder (what a record holds). */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_EMBEDDING_VECTORS,
  EMBEDDINGS_FILE,
  type EmbeddingVector,
  HISTOGRAM_BINS,
  HISTOGRAM_FILE,
  type VectorTensors,
} from '../../shared/contract/index.js';
import { readSafetensors, readSafetensorsHeader, type HeaderEntry } from '../../shared/safetensors.js';

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
  dirs: { embed: string; histogram: string },
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
