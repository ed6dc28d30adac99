/**
 * The demo cohort: synthetic H&E slides for several patients in several centers with both labels, the real
 * fixtures from ../shared when present (one of them unreadable, to show a bad slide becoming a report line),
 * a manifest, and the project's test models. One slide is held back for the "new slide" story.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { makeSyntheticSlide } from '../../scripts/synthetic-slide.js';
import { buildModels } from '../../scripts/models/build.js';

export interface CohortOptions {
  dir: string;
  patients: number;
  /** Side of each synthetic slide in level-0 pixels. */
  slideSize: number;
  /** Folder holding fixtures/slides (../shared beside the checkout); skipped when absent. */
  sharedDir?: string;
  seed: number;
}

export interface DemoCohort {
  slidesDir: string;
  manifest: string;
  modelsDir: string;
  /** The slide committed later, as `/<id>/<file>`. */
  heldBack: { id: string; file: string };
  slides: number;
  patients: number;
}

const LABELS = ['CE', 'LAA'] as const;
const CENTERS = [11, 4, 7] as const;
const FIXTURES = [
  { file: 'cmu-1-small-region.svs', id: 'cmu1' },
  { file: 'os-1-detail.pyramid.tiff', id: 'os1' },
  { file: 'unreadable.svs', id: 'corrupt' },
] as const;

export async function makeDemoCohort(o: CohortOptions, onSlide: (id: string) => void = () => {}): Promise<DemoCohort> {
  const slidesDir = join(o.dir, 'slides');
  const heldDir = join(o.dir, 'later');
  rmSync(o.dir, { recursive: true, force: true });
  mkdirSync(slidesDir, { recursive: true });
  mkdirSync(heldDir, { recursive: true });

  const rows: string[][] = [['image_id', 'patient_id', 'center_id', 'label']];
  let slides = 0;
  let heldBack: DemoCohort['heldBack'] | undefined;
  for (let p = 0; p < o.patients; p++) {
    const patient = `P${String(p + 1).padStart(3, '0')}`;
    const center = CENTERS[p % CENTERS.length];
    const label = LABELS[Math.floor(p / CENTERS.length) % 2 === 0 ? p % 2 : (p + 1) % 2];
    const count = p % 3 === 0 ? 2 : 1; // some patients have two slides
    for (let s = 0; s < count; s++) {
      const id = `${patient}_${s}`;
      const isLast = p === o.patients - 1 && s === count - 1;
      const file = `${id}.tiff`;
      await makeSyntheticSlide({
        path: join(isLast ? heldDir : slidesDir, file),
        width: o.slideSize,
        height: Math.round(o.slideSize * 0.75),
        seed: o.seed * 1000 + p * 10 + s,
        tissueFraction: 0.3 + 0.1 * (p % 4),
        layout: (['blobs', 'band', 'scattered'] as const)[p % 3],
        pyramid: true,
      });
      onSlide(id);
      rows.push([id, patient, String(center), label]);
      if (isLast) heldBack = { id, file: join(heldDir, file) };
      slides++;
    }
  }

  let patients = o.patients;
  const fixtureDir = o.sharedDir ? join(o.sharedDir, 'fixtures', 'slides') : undefined;
  if (fixtureDir && existsSync(fixtureDir)) {
    FIXTURES.forEach((f, i) => {
      const src = join(fixtureDir, f.file);
      if (!existsSync(src)) return;
      copyFileSync(src, join(slidesDir, `${f.id}${extname(f.file)}`));
      rows.push([f.id, `R${i + 1}`, String(CENTERS[i % CENTERS.length]), LABELS[i % 2]]);
      onSlide(f.id);
      slides++;
      patients++;
    });
  }
  if (!heldBack) throw new Error('the demo cohort needs at least one patient');

  const manifest = join(o.dir, 'manifest.csv');
  writeFileSync(manifest, rows.map((r) => r.join(',')).join('\n') + '\n');

  const modelsDir = join(o.dir, 'models');
  buildModels({ out: modelsDir, normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
  return { slidesDir, manifest, modelsDir, heldBack, slides, patients };
}

/** A second embed model (another seed) for the "new model" story. */
export function makeNewEmbedModel(dir: string, seed: number): string {
  buildModels({ out: dir, normalize: 'none', shift: [0, 0, 0], embed: 'tiny', seed });
  return resolve(dir, 'embed');
}
