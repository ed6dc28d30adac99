/**
 * The merge pipelines at cohort scale, through the engine's CLI over synthetic embed / histogram / tile-detect repos:
 * a new slide rewrites its patient's shard only, a new patient its shard (and those of the few patients a split
 * quota moves), a label change the shards holding that patient, a slide no manifest row names no shard at all; and
 * a clean run of the final cohort gives the same bytes, in every merge pipeline, as the incremental history did.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MergeEngine, MERGE_PIPELINES } from '../../scripts/bench/merge-engine.js';
import { readMergeConfig } from '../../stages/cohort/merge-config.js';
import type { CohortFile } from '../../stages/cohort/merge-file-types.js';
import { shardCount, shardOf } from '../../stages/merge-assign/assign.js';
import { shardFileName } from '../../shared/contract/index.js';

const ENV = { EXPECTED_PATIENTS: '8', PATIENTS_PER_SHARD: '2', SPLIT_SEED: '3' };
const config = readMergeConfig(ENV);
const DIM = 8;

interface Row {
  slide: string;
  patient: string;
  center: string;
  label: string;
}
const csv = (rows: Row[]) =>
  ['image_id,patient_id,center_id,label', ...rows.map((r) => `${r.slide},${r.patient},${r.center},${r.label}`)].join(
    '\n',
  ) + '\n';
const slide = (i: number) => ({ id: `s${i}`, index: i, tiles: 2 + (i % 3), dim: DIM });

describe('story: merge at cohort scale rewrites only what changed', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'merge-incremental-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const a = new MergeEngine({ home: join(tmp, 'a-home'), work: join(tmp, 'a'), env: ENV });
  const rows: Row[] = [];
  for (let p = 0; p < 8; p++)
    rows.push({ slide: `s${p}`, patient: `P${p}`, center: `C${p % 2}`, label: p % 3 ? 'tumor' : 'normal' });
  rows.push(
    { slide: 's8', patient: 'P0', center: 'C0', label: 'normal' },
    { slide: 's9', patient: 'P1', center: 'C1', label: 'tumor' },
  );

  const shardFiles = (e: MergeEngine) => new Map([...e.files('merge-shard')].filter(([p]) => p.endsWith('.tfrecord')));
  /** The QC page's scripts and pictures in a repo (merge-shard's, or the dataset's beside report.html). */
  const qcFiles = (e: MergeEngine, repo: string) =>
    new Map([...e.files(repo)].filter(([p]) => /^\/qc\/[^/]+\.(js|jpg)$/.test(p)));
  const cohort = (e: MergeEngine) =>
    JSON.parse(e.tessella('get', 'file', 'merge-assign@master:/cohort.json')) as CohortFile;
  const fileOf = (c: CohortFile, patient: string) => {
    const set = c.assignment[patient];
    const n = shardCount(set, config);
    return '/' + shardFileName(set, shardOf(String(config.SPLIT_SEED), set, patient, n), n);
  };
  /** Shard files that differ between two listings (changed, new or gone). */
  const changed = (before: Map<string, string>, now: Map<string, string>) =>
    [...new Set([...before.keys(), ...now.keys()])].filter((p) => before.get(p) !== now.get(p)).sort();
  /** Shards a change may touch: those of the given patients and of every patient whose set moved, before and after. */
  const allowed = (c0: CohortFile, c1: CohortFile, patients: string[]) => {
    const out = new Set<string>();
    for (const p of Object.keys(c1.assignment)) {
      if (patients.includes(p) || c0.assignment[p] !== c1.assignment[p]) {
        out.add(fileOf(c1, p));
        if (c0.assignment[p]) out.add(fileOf(c0, p));
      }
    }
    return out;
  };

  it('a first run builds the dataset through the four merge pipelines', () => {
    a.setup();
    a.putSlides(Array.from({ length: 10 }, (_, i) => slide(i)));
    a.putManifest(csv(rows));
    a.run();
    const jobs = a.jobsSince();
    assert.equal(jobs['merge-slide'].processed, 10);
    assert.equal(jobs.merge.processed, 1);
    const merge = a.files('merge');
    for (const f of ['/dataset.json', '/splits.csv', '/report.md']) assert.ok(merge.has(f), f);
    // The dataset's shards are the very blobs merge-shard wrote (linked by content, not copied).
    const shards = shardFiles(a);
    assert.ok(shards.size >= 3);
    for (const [p, h] of shards) assert.equal(merge.get(p), h, p);
    const info = JSON.parse(a.tessella('get', 'file', 'merge@master:/dataset.json'));
    assert.equal(info.totals.patients, 8);
    assert.equal(info.totals.slides, 10);
    assert.deepEqual(info.models.normalize.model_card, [{ name: 'stand-in' }]);
    assert.match(info.models.normalize.model_sha256[0], /^[0-9a-f]{64}$/);
  });

  it('one new slide of an existing patient rewrites that patient and its shard only', () => {
    const before = shardFiles(a);
    const qcBefore = qcFiles(a, 'merge-shard');
    const c0 = cohort(a);
    rows.push({ slide: 's10', patient: 'P2', center: 'C0', label: 'tumor' });
    a.putSlides([slide(10)]);
    a.putManifest(csv(rows));
    a.run();
    const jobs = a.jobsSince();
    assert.equal(
      jobs['merge-slide'].processed,
      2,
      "the new slide and its patient's other slide (its slide count changed)",
    );
    assert.equal(jobs['merge-shard'].processed, 1);
    assert.deepEqual(changed(before, shardFiles(a)), [fileOf(c0, 'P2')]);
    // The QC page: one shard's card script re-rendered, one new picture; report.html itself holds no card, so the
    // last step read none (its inputs hold no per-slide card: merge-shard's scripts are linked, not read).
    const shardNo = fileOf(c0, 'P2').replace(/^\/(\w+)\/\w+-(\d{5})-of-\d{5}\.tfrecord$/, '$1-$2');
    const qcShard = changed(qcBefore, qcFiles(a, 'merge-shard'));
    assert.deepEqual(qcShard, [`/qc/${shardNo}.js`, '/qc/s10.jpg'].sort(), JSON.stringify(qcShard));
    const qcMerge = changed(qcBefore, qcFiles(a, 'merge'));
    assert.deepEqual(qcMerge, [`/qc/${shardNo}.js`, '/qc/s10.jpg'].sort(), JSON.stringify(qcMerge));
    const page = a.tessella('get', 'file', 'merge@master:/report.html');
    assert.ok(!page.includes('<article'), 'no card rendered by the last step');
    assert.equal(
      [...page.matchAll(/<script src="qc\/[\w-]+\.js"/g)].length,
      [...qcFiles(a, 'merge').keys()].filter((f) => f.endsWith('.js')).length,
      'one script tag per shard script',
    );
    const p2 = JSON.parse(a.tessella('get', 'file', 'merge@master:/dataset.json'));
    assert.equal(p2.totals.slides, 11);
  });

  it('one new patient rewrites its shard and those of the patients a quota boundary moves; the rest are byte-identical', () => {
    const before = shardFiles(a);
    const c0 = cohort(a);
    rows.push({ slide: 's11', patient: 'P8', center: 'C1', label: 'normal' });
    a.putSlides([slide(11)]);
    a.putManifest(csv(rows));
    a.run();
    a.jobsSince();
    const c1 = cohort(a);
    const diff = changed(before, shardFiles(a));
    const ok = allowed(c0, c1, ['P8']);
    for (const f of diff) assert.ok(ok.has(f), `${f} changed, but holds neither P8 nor a moved patient`);
    assert.ok(diff.includes(fileOf(c1, 'P8')));
    assert.ok(diff.length < before.size, 'not every shard rewritten');
  });

  it('a slide no manifest row names costs no shard rewrite', () => {
    const before = shardFiles(a);
    a.putSlides([{ id: 'stray', index: 99, tiles: 3, dim: DIM }]);
    a.run();
    const jobs = a.jobsSince();
    assert.equal(jobs['merge-assign'].processed, 0);
    assert.equal(jobs['merge-slide'].processed, 1);
    assert.equal(jobs['merge-shard'].processed, 1, 'only the /unlisted datum');
    assert.deepEqual(changed(before, shardFiles(a)), []);
    assert.deepEqual(JSON.parse(a.tessella('get', 'file', 'merge@master:/dataset.json')).excluded.unlisted_slides, [
      'stray',
    ]);
  });

  it("changing one patient's label rewrites only the shards that hold it (and moved patients')", () => {
    const before = shardFiles(a);
    const c0 = cohort(a);
    for (const r of rows) if (r.patient === 'P4') r.label = r.label === 'tumor' ? 'normal' : 'tumor';
    a.putManifest(csv(rows));
    a.run();
    const c1 = cohort(a);
    const diff = changed(before, shardFiles(a));
    const ok = allowed(c0, c1, ['P4']);
    assert.ok(diff.length >= 1);
    for (const f of diff) assert.ok(ok.has(f), `${f} changed, but holds neither P4 nor a moved patient`);
  });

  it('a clean run of the same cohort gives byte-identical output repos, every merge pipeline', () => {
    const b = new MergeEngine({ home: join(tmp, 'b-home'), work: join(tmp, 'b'), env: ENV });
    b.setup();
    b.putSlides([...Array.from({ length: 12 }, (_, i) => slide(i)), { id: 'stray', index: 99, tiles: 3, dim: DIM }]);
    b.putManifest(csv(rows));
    b.run();
    for (const p of MERGE_PIPELINES)
      assert.deepEqual([...b.files(p)].sort(), [...a.files(p)].sort(), `${p}@master differs between the two runs`);
  });
});
