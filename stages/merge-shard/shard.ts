/**
 * merge-shard: one datum per shard folder of merge-slide (`/shards/<set>/<NNNNN>`), so a new slide rewrites only its
 * patient's shard and every other shard is skipped, byte-identical. Builds one Example per patient (slides in
 * manifest order, tiles in order), patients in a seeded order of their own ids, into
 * `/<set>/<set>-NNNNN-of-MMMMM.tfrecord`, and writes `/summary/<set>-NNNNN.json`: what went in, what was left out and
 * why, for the last step. A shard whose patients have no tiles yet gets a summary and no TFRecord.
 * The shard's part of the QC page: its slides' cards rendered into `/qc/<set>-NNNNN.js` (report.html loads it), the
 * same cards as data (`/qc/<set>-NNNNN.cards.json`), and their pictures linked as `/qc/<slide>.jpg`.
 * The `/unlisted` datum (slides with outputs but no manifest row) only lists them: `/summary/unlisted.json`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  qcPictureFile,
  qcShardCards,
  qcShardScript,
  SLIDE_FILE,
  SUMMARY_DIR,
  UNLISTED_SUMMARY,
  shardSummaryFile,
  DEFAULT_EMBEDDING_VECTORS,
  embeddingLayout,
  isDefaultVectors,
  layoutDiffers,
  type EmbeddingVector,
} from '../../shared/contract/index.js';
import { placeAtomic, withoutPfsRoot, writeFileAtomic } from '../../shared/pfs.js';
import { fnv1a32 } from '../../shared/random.js';
import {
  type ExcludedSlide,
  type ShardCards,
  type ShardPatient,
  type ShardSummary,
  type SlideFile,
  type SlideOutcome,
  vectorsOf,
} from '../cohort/merge-file-types.js';
import { readQcCard, type QcCard } from '../cohort/qc-card-file.js';
import { cardsScript, renderCard } from '../cohort/qc-card-html.js';
import { slideLineOf } from '../cohort/slide-line.js';
import { encodePatient } from './patient-record.js';
import { loadPatientTiles, TileBuffers } from './patient-tiles.js';
import { writeShards, type WrittenShard } from './shards.js';

const MODEL_KEY = /sha256|card|model/i;

/** A slide's safetensors metadata keys that identify a model (sha256, card, model), distinct values per key. */
function collectModelMeta(into: Record<string, unknown[]>, meta: Record<string, string>): void {
  for (const [key, value] of Object.entries(meta)) {
    if (!MODEL_KEY.test(key)) continue;
    let parsed: unknown = value;
    if (/^\s*[{[]/.test(value)) {
      try {
        parsed = JSON.parse(value);
      } catch {
        /* keep the string */
      }
    }
    const list = (into[key] ??= []);
    if (!list.some((v) => JSON.stringify(v) === JSON.stringify(parsed))) list.push(parsed);
  }
}

function readSlideFiles(shardDir: string): { file: SlideFile; dir: string; slideDir: string }[] {
  const out: { file: SlideFile; dir: string; slideDir: string }[] = [];
  for (const p of readdirSync(shardDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()) {
    for (const s of readdirSync(join(shardDir, p), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()) {
      const path = join(shardDir, p, s, SLIDE_FILE);
      if (!existsSync(path))
        throw new Error(`${withoutPfsRoot(join(shardDir, p, s))}: no ${SLIDE_FILE} (not written by merge-slide?)`);
      out.push({
        file: JSON.parse(readFileSync(path, 'utf8')) as SlideFile,
        dir: join(shardDir, p),
        slideDir: join(shardDir, p, s),
      });
    }
  }
  return out;
}

export async function runShard(shardDir: string, outDir: string): Promise<ShardSummary> {
  const slideFiles = readSlideFiles(shardDir);
  if (slideFiles.length === 0) throw new Error(`${withoutPfsRoot(shardDir)}: an empty shard folder`);
  const first = slideFiles[0].file.assigned;
  for (const { file } of slideFiles) {
    const a = file.assigned;
    if (
      a.set !== first.set ||
      a.shard !== first.shard ||
      a.file !== first.file ||
      a.compression !== first.compression
    ) {
      throw new Error(
        `slide '${a.slide}' is assigned to ${a.file} but shares ${withoutPfsRoot(shardDir)} with slides of ${first.file}; re-run merge-assign`,
      );
    }
  }
  // Patients, each with its slides in manifest order.
  const byPatient = new Map<string, { dir: string; files: SlideFile[] }>();
  for (const { file, dir } of slideFiles) {
    const e = byPatient.get(file.assigned.patient) ?? { dir, files: [] };
    e.files.push(file);
    byPatient.set(file.assigned.patient, e);
  }
  for (const e of byPatient.values()) e.files.sort((a, b) => a.assigned.slideIndex - b.assigned.slideIndex);

  // One embedding layout (dimension and pooled vectors) per shard: the most common; slides of another model's are left
  // out (the last step checks that every shard agrees).
  const layouts = new Map<string, { dim: number; vectors: readonly EmbeddingVector[]; count: number }>();
  for (const { file } of slideFiles) {
    if (file.outcome.status !== 'ok') continue;
    const key = embeddingLayout(file.outcome.dim, vectorsOf(file.outcome));
    const l = layouts.get(key) ?? { dim: file.outcome.dim, vectors: vectorsOf(file.outcome), count: 0 };
    l.count++;
    layouts.set(key, l);
  }
  const top = [...layouts.values()].sort((a, b) => b.count - a.count || a.dim - b.dim)[0];
  const dim = top?.dim ?? 0;
  const vectors = top?.vectors ?? DEFAULT_EMBEDDING_VECTORS;
  const layout = embeddingLayout(dim, vectors);

  const seed = first.seed;
  const order = (id: string) => fnv1a32(`${seed}:${first.set}:order:${id}`);
  const patientIds = [...byPatient.keys()].sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
  const patients: ShardPatient[] = [];
  const excludedSlides: ExcludedSlide[] = [];
  const droppedPatients: ShardSummary['droppedPatients'] = [];
  const models: ShardSummary['models'] = {};
  const fields = new Map<string, { centerId: number; label?: number; dir: string }>();
  for (const id of patientIds) {
    const { dir, files } = byPatient.get(id)!;
    const used: ShardPatient['slides'] = [];
    for (const { assigned: a, outcome: o } of files) {
      if (o.status === 'error')
        excludedSlides.push({
          slide: a.slide,
          patient: id,
          why: `${o.error.what}: ${o.error.why}`,
          stage: o.error.stage,
        });
      else if (o.status === 'excluded') excludedSlides.push({ slide: a.slide, patient: id, why: o.why });
      else if (embeddingLayout(o.dim, vectorsOf(o)) !== layout)
        excludedSlides.push({
          slide: a.slide,
          patient: id,
          why: layoutDiffers(embeddingLayout(o.dim, vectorsOf(o)), layout),
        });
      else {
        used.push({ slideId: a.slide, tiles: o.tiles });
        collectModelMeta((models.embed ??= {}), o.embedMeta);
        collectModelMeta((models.histogram ??= {}), o.histogramMeta);
      }
    }
    const tiles = used.reduce((s, x) => s + x.tiles, 0);
    if (tiles === 0)
      droppedPatients.push({
        patient: id,
        why: `no tiles: none of its ${files[0].assigned.patientSlides} slide(s) has usable outputs`,
      });
    else {
      patients.push({ patientId: id, slides: used, tiles });
      fields.set(id, { centerId: files[0].assigned.centerId, label: files[0].assigned.label, dir });
    }
  }

  let written: WrittenShard[] = [];
  if (patients.length > 0) {
    const buffers = new TileBuffers();
    const byId = new Map(patients.map((p) => [p.patientId, p]));
    written = await writeShards(
      outDir,
      [{ set: first.set, file: first.file, patients: patients.map((p) => p.patientId) }],
      (patientId) => {
        const p = byId.get(patientId)!;
        const f = fields.get(patientId)!;
        const tiles = loadPatientTiles({ embed: f.dir, histogram: f.dir }, p.slides, dim, buffers, vectors);
        return encodePatient({ patientId, centerId: f.centerId, label: f.label }, tiles, dim);
      },
      { gzip: first.compression === 'gzip' },
    );
  }
  const summary: ShardSummary = {
    set: first.set,
    shard: first.shard,
    shards: first.shards,
    file: first.file,
    records: written[0]?.records ?? 0,
    bytes: written[0]?.bytes ?? 0,
    compression: first.compression,
    dim: patients.length ? dim : 0,
    ...(patients.length && !isDefaultVectors(vectors) ? { vectors: [...vectors] } : {}),
    patients,
    slides: slideFiles.map(({ file }) => ({
      patientId: file.assigned.patient,
      line: file.assigned.line,
      outcome: withoutModelMeta(file.outcome),
    })),
    excludedSlides,
    droppedPatients,
    models,
  };
  summary.qc = writeShardCards(slideFiles, excludedSlides, outDir, first.set, first.shard);
  // One line: the last step reads every shard's summary, so its bytes per slide are what a new slide costs there.
  writeFileAtomic(join(outDir, shardSummaryFile(first.set, first.shard)), JSON.stringify(summary) + '\n');
  return summary;
}

/**
 * A slide's outcome as the summary carries it: without the models' metadata, which the summary's `models` holds once
 * for the shard (the last step reads only that), so the bytes per slide stay small.
 */
function withoutModelMeta(o: SlideOutcome): SlideOutcome {
  if (o.status !== 'ok') return o;
  const { embedMeta: _e, histogramMeta: _h, ...rest } = o;
  void _e;
  void _h;
  return rest as SlideOutcome;
}

/**
 * The shard's part of the QC page: every slide's card rendered (manifest order) into `qc/<set>-NNNNN.js`, the cards as
 * data into `qc/<set>-NNNNN.cards.json`, and each card picture linked from merge-slide's folder as `qc/<slide>.jpg`.
 */
function writeShardCards(
  slideFiles: { file: SlideFile; slideDir: string }[],
  excludedSlides: ExcludedSlide[],
  outDir: string,
  set: string,
  shard: number,
): NonNullable<ShardSummary['qc']> {
  const excludedWhy = new Map(excludedSlides.map((e) => [e.slide, e.why]));
  const html: string[] = [];
  const cards: QcCard[] = [];
  let pictures = 0;
  const ordered = [...slideFiles].sort((a, b) => a.file.assigned.line - b.file.assigned.line);
  for (const { file, slideDir } of ordered) {
    const a = file.assigned;
    const read = readQcCard(a.slide, slideDir);
    const line = slideLineOf(a.patient, a.line, file.outcome, excludedWhy.get(a.slide));
    html.push(renderCard(line, { center: a.center, label: a.labelName, set: a.set }, read?.card));
    if (read) cards.push(read.card);
    if (read?.picture) {
      placeAtomic(read.picture, join(outDir, qcPictureFile(a.slide)), 'symlink');
      pictures++;
    }
  }
  const script = qcShardScript(set, shard);
  const data = qcShardCards(set, shard);
  writeFileAtomic(join(outDir, script), cardsScript(html));
  writeFileAtomic(join(outDir, data), JSON.stringify({ cards } satisfies ShardCards) + '\n');
  return { script, cards: data, pictures };
}

/** The `/unlisted` datum: slides with outputs but no manifest row, listed for the report. */
export function runUnlisted(unlistedDir: string, outDir: string): string[] {
  const slides = existsSync(unlistedDir)
    ? readdirSync(unlistedDir)
        .filter((n) => n.endsWith('.json'))
        .map((n) => n.slice(0, -'.json'.length))
        .sort()
    : [];
  writeFileAtomic(join(outDir, SUMMARY_DIR, UNLISTED_SUMMARY), JSON.stringify({ slides }, null, 2) + '\n');
  return slides;
}
