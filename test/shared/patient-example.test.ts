/**
 * The patient record's feature table (shared/contract/patient-example.ts) is the one description of the record:
 * dataset.json's feature spec is derived from it, and docs/loading-the-dataset.md must list the same features,
 * in the same order, with the same types and lengths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMBEDDING_VECTORS,
  featureSpec,
  HISTOGRAM_BINS,
  PATIENT_FEATURES,
  type PatientFeature,
} from '../../shared/contract/index.js';
import { projectRoot } from '../helpers/dirs.js';

/** The rows of the doc's "Each record holds" table: every backticked name of the first cell, with the type cell. */
function docFeatures(): { name: string; type: string }[] {
  const md = readFileSync(join(projectRoot, 'docs/loading-the-dataset.md'), 'utf8');
  const table = md.split('Each record holds:')[1]?.split('\n\n')[1];
  assert.ok(table, 'docs/loading-the-dataset.md has the "Each record holds:" table');
  return table
    .split('\n')
    .slice(2) // header and rule
    .flatMap((row) => {
      const [names, type] = row
        .split('|')
        .slice(1, 3)
        .map((c) => c.trim());
      return [...names.matchAll(/`([a-z_]+)`/g)].map((m) => ({ name: m[1], type }));
    });
}

/** How the doc writes a feature's type: `bytes`, `int64, N`, `float, N*D`, `float, 4096`, `bytes list`. */
function docType(f: PatientFeature): string {
  const base = f.dtype === 'string' ? 'bytes' : f.dtype === 'int64' ? 'int64' : 'float';
  if (f.layout === 'scalar') return base;
  if (f.layout === 'per-slide') return `${base} list`;
  if (f.layout === 'fixed') return `${base}, ${f.width}`;
  return f.width === 'embedding' ? `${base}, N*D` : `${base}, N`;
}

test('docs/loading-the-dataset.md lists exactly the feature table, in order, with its types', () => {
  assert.deepEqual(
    docFeatures(),
    PATIENT_FEATURES.map((f) => ({ name: f.name, type: docType(f) })),
  );
});

test('the feature spec follows the table: every feature, label only in a labelled set, the vectors written', () => {
  assert.deepEqual(
    Object.keys(featureSpec(8, true, EMBEDDING_VECTORS)),
    PATIENT_FEATURES.map((f) => f.name),
  );
  const unlabeled = PATIENT_FEATURES.filter((f) => !f.labeledOnly).map((f) => f.name);
  assert.deepEqual(Object.keys(featureSpec(8, false, EMBEDDING_VECTORS)), unlabeled);
  // the default pooling (mean+max) writes avg and max; cls+mean writes cls and avg
  const vectorsOf = (spec: object) => Object.keys(spec).filter((k) => /^embedding_(avg|max|cls)$/.test(k));
  assert.deepEqual(vectorsOf(featureSpec(8, true)), ['embedding_avg', 'embedding_max']);
  assert.deepEqual(vectorsOf(featureSpec(8, true, ['avg', 'cls'])), ['embedding_avg', 'embedding_cls']);
  assert.deepEqual(featureSpec(8, true).color_histogram.shape, [HISTOGRAM_BINS]);
  const perTile = { kind: 'FixedLenSequenceFeature', dtype: 'int64', shape: [], allow_missing: true };
  assert.deepEqual(featureSpec(8, true).tile_slide, perTile);
});
