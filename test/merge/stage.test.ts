/**
 * stages/merge/main.ts as the engine or Pachyderm runs it: a child process with PFS_ROOT, the input variables
 * (`manifest`, `tile_detect`, `embed`, `histogram`) and transform.env parameters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readDatasetJson, readPatients, verifyDataset } from '../../shared/dataset-reader.js';
import { makePfs, projectRoot, slideData, writeFailedSlide, writeManifest, writeSlideOutputs, type PfsFixture } from './cohort-fixture.js';

const DIM = 8;

function runStage(pfs: PfsFixture, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages/merge/main.ts')], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      PFS_ROOT: pfs.root,
      manifest: pfs.manifest,
      tile_detect: pfs.tileDetect,
      embed: pfs.embed,
      histogram: pfs.histogram,
      PACH_JOB_ID: 'job1',
      PACH_DATUM_ID: 'datum1',
      TESSELLA_LOG_FORMAT: 'json',
      IMAGE_COLUMN: 'slide',
      PATIENT_COLUMN: 'patient',
      CENTER_COLUMN: 'site',
      LABEL_COLUMN: 'subtype',
      ...env,
    },
  });
  return { code: r.status, stderr: r.stderr };
}

function addPatients(pfs: PfsFixture, from: number, to: number, rows: string[]): void {
  for (let i = from; i < to; i++) {
    rows.push(`slide${i},patient${i},site${i % 4},${i % 2 ? 'luad' : 'lusc'}`);
    if (i === 3) writeFailedSlide(pfs, `slide${i}`);
    else writeSlideOutputs(pfs, `slide${i}`, slideData(i, 1 + (i % 4), DIM));
  }
  writeManifest(pfs, ['slide,patient,site,subtype', ...rows].join('\r\n') + '\r\n');
}

test('main.ts end to end: dataset, then pins kept when new patients arrive', () => {
  const pfs = makePfs();
  try {
    const rows: string[] = [];
    addPatients(pfs, 0, 40, rows);
    const first = runStage(pfs, { SPLIT_SEED: '11', SHARD_SIZE_MB: '0.002' });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /"event":"dataset written"/);
    const info1 = readDatasetJson(pfs.out);
    assert.equal(info1.totals.patients, 39, 'patient3 (every slide failed) dropped');
    assert.deepEqual(info1.excluded.patients.map((p) => p.patient), ['patient3']);
    assert.ok(info1.sets.train.shards.length > 1, 'small SHARD_SIZE_MB: several train shards');
    const splits1 = readFileSync(join(pfs.out, 'splits.csv'), 'utf8');

    // The user commits the assignment back and adds 20 patients.
    copyFileSync(join(pfs.out, 'splits.csv'), join(pfs.manifest, 'splits.csv'));
    rmSync(pfs.out, { recursive: true });
    mkdirSync(pfs.out);
    addPatients(pfs, 40, 60, rows);
    const second = runStage(pfs, { SPLIT_SEED: '99' });
    assert.equal(second.code, 0, second.stderr);
    const info2 = readDatasetJson(pfs.out);
    assert.equal(info2.totals.patients, 59);
    assert.equal(info2.splits?.pinned, 39);
    const splits2 = new Map(readFileSync(join(pfs.out, 'splits.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',') as [string, string]));
    for (const line of splits1.trim().split('\n').slice(1)) {
      const [patient, split] = line.split(',');
      assert.equal(splits2.get(patient), split, `${patient} kept its pinned split`);
    }
    const totals = ['train', 'val', 'eval'].map((s) => info2.sets[s].patients);
    assert.deepEqual(totals, [47, 6, 6]);
  } finally {
    pfs.cleanup();
  }
});

test('main.ts: a bad manifest exits 1 with the line and column, and writes nothing', () => {
  const pfs = makePfs();
  try {
    writeSlideOutputs(pfs, 'a', slideData(0, 2, DIM));
    writeManifest(pfs, 'slide,patient,site,subtype\na,p1,s1,luad\na,p2,s1,lusc\n');
    const r = runStage(pfs);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /"event":"merge failed".*line 3, column 'slide' \(image_id\): duplicate image id 'a' \(first on line 2\)/);
    assert.deepEqual(readdirSync(pfs.out), []);
    const badParam = runStage(pfs, { COMPRESSION: 'zstd' });
    assert.equal(badParam.code, 1);
    assert.match(badParam.stderr, /COMPRESSION: expected one of none, gzip, got 'zstd'/);
  } finally {
    pfs.cleanup();
  }
});

test('main.ts: GZIP dataset verifies record by record', async () => {
  const pfs = makePfs();
  try {
    addPatients(pfs, 0, 6, []);
    const r = runStage(pfs, { COMPRESSION: 'gzip', DATASET_KIND: 'inference' });
    assert.equal(r.code, 0, r.stderr);
    const info = readDatasetJson(pfs.out);
    assert.equal(info.compression, 'GZIP');
    assert.deepEqual((await verifyDataset(pfs.out)).problems, []);
    let n = 0;
    for await (const rec of readPatients(pfs.out)) {
      assert.ok(rec.numTiles > 0);
      n++;
    }
    assert.equal(n, 5);
  } finally {
    pfs.cleanup();
  }
});
