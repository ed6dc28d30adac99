/**
 * The files the merge pipelines hand each other that carry no zod schema of their own (merge-assign's slide files
 * do: shared/contract/merge-files.ts): `/cohort.json` (merge-assign -> merge), `slide.json` (merge-slide ->
 * merge-shard), and merge-shard's `/summary/<set>-NNNNN.json` and `/qc/<set>-NNNNN.cards.json` (-> merge). Each is
 * written by one pipeline and read by another, so its type lives here, where both see it.
 */
import {
  type AssignedSlide,
  DEFAULT_EMBEDDING_VECTORS,
  type EmbeddingVector,
  type SlideError,
  type TilesJson,
} from '../../shared/contract/index.js';
import type { Manifest } from './manifest.js';
import type { MergeConfig } from './merge-config.js';
import type { QcCard } from './qc-card-file.js';
import type { Split } from './splits.js';

/** merge-assign's `/cohort.json`: the parsed manifest, pins, the assignment and the parameters. */
export interface CohortFile {
  kind: 'labeled' | 'inference';
  manifest: Manifest;
  config: MergeConfig;
  /** patient -> pinned split, as read from the manifest repo's pins file */
  pins: Record<string, Split>;
  /** every manifest patient -> set */
  assignment: Record<string, string>;
}

/** tile-detect's counts for a slide, and its explanation when it kept no tile. */
export type DetectCounts = TilesJson['counts'] & { reason?: string };

/** What the upstream stages left for one slide, as merge-slide surveyed it. */
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

/** The vectors of an ok outcome: its own list, or the default avg and max. */
export function vectorsOf(o: { vectors?: EmbeddingVector[] }): readonly EmbeddingVector[] {
  return o.vectors ?? DEFAULT_EMBEDDING_VECTORS;
}

/** merge-slide's `slide.json`: a manifest slide's assignment and its outcome. */
export interface SlideFile {
  assigned: AssignedSlide;
  outcome: SlideOutcome;
}

/** A slide left out of its patient's record, and why. */
export interface ExcludedSlide {
  slide: string;
  patient: string;
  why: string;
  stage?: string;
}

export interface ShardPatient {
  patientId: string;
  /** slides in the record, manifest order */
  slides: { slideId: string; tiles: number }[];
  tiles: number;
}

/** merge-shard's `/summary/<set>-NNNNN.json`: what went into the shard's TFRecord, what was left out and why. */
export interface ShardSummary {
  set: string;
  shard: number;
  shards: number;
  /** the TFRecord (relative to the dataset), present when records > 0 */
  file: string;
  records: number;
  bytes: number;
  compression: 'none' | 'gzip';
  /** the embedding dimension of this shard's records (0 when none) */
  dim: number;
  /** the pooled vectors of its records, when not the default avg and max */
  vectors?: EmbeddingVector[];
  /** patients in records, record order */
  patients: ShardPatient[];
  /** every slide of the shard's patients: its outcome as merge-slide saw it (without the models' metadata: `models`) */
  slides: { patientId: string; line: number; outcome: SlideOutcome }[];
  excludedSlides: ExcludedSlide[];
  droppedPatients: { patient: string; why: string }[];
  models: Record<string, Record<string, unknown[]>>;
  /** the shard's QC cards (relative to merge-shard's output): the script report.html loads, the same cards as data */
  qc?: { script: string; cards: string; pictures: number };
}

/** `qc/<set>-NNNNN.cards.json`: the shard's QC cards as data, for the last step when it must render them itself. */
export interface ShardCards {
  cards: QcCard[];
}
