/**
 * stages/merge/main.ts as the engine or Pachyderm runs it: a child process with PFS_ROOT, the input variables
 * (`manifest`, `tile_detect`, `embed`, `histogram`) and transform.env parameters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { runShard, runUnlisted } from '../../stages/merge-shard/shard.js';
import { runSlide } from '../../stages/merge-slide/slide.js';
import { join } from 'node:path';
import { readDatasetJson } from '../../shared/contract/index.js';
import { readPatients, verifyDataset } from '../../shared/dataset-reader.js';
import {
  makePfs,
  projectRoot,
  slideData,
  writeFailedSlide,
  writeManifest,
  writeSlideOutputs,
  type PfsFixture,
} from './cohort-fixture.js';

const DIM = 8;

function spawnMain(stage: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', stage, 'main.ts')], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, PACH_JOB_ID: 'job1', PACH_DATUM_ID: 'datum1', TESSELLA_LOG_FORMAT: 'json', ...env },
  });
}

/**
 * The merge pipelines as Pachyderm runs their datums: merge-assign's and merge's main.ts as child processes (with
 * PFS_ROOT, the input variables and transform.env); merge-slide per slide and merge-shard per shard folder in this
 * process (one child per datum would take a minute here; the engine story test runs their main.ts).
 */
function runStage(pfs: PfsFixture, env: Record<string, string> = {}) {
  const params = {
    IMAGE_COLUMN: 'slide',
    PATIENT_COLUMN: 'patient',
    CENTER_COLUMN: 'site',
    LABEL_COLUMN: 'subtype',
    ...env,
  };
  const work = join(pfs.root, 'steps');
  rmSync(work, { recursive: true, force: true });
  const assignRoot = join(work, 'assign');
  mkdirSync(join(assignRoot, 'out'), { recursive: true });
  const a = spawnMain('merge-assign', { PFS_ROOT: assignRoot, manifest: pfs.manifest, ...params });
  if (a.status !== 0) return { code: a.status, stderr: a.stderr };
  const slideOut = join(work, 'slide-out');
  const ids = new Set([
    ...readdirSync(join(assignRoot, 'out', 'slides')).map((n) => n.replace(/\.json$/, '')),
    ...readdirSync(pfs.embed),
    ...readdirSync(pfs.histogram),
    ...readdirSync(pfs.tileDetect),
  ]);
  const at = (dir: string, id: string) => (existsSync(join(dir, id)) ? join(dir, id) : undefined);
  for (const id of ids) {
    const assignFile = join(assignRoot, 'out', 'slides', `${id}.json`);
    runSlide({
      slideId: id,
      assignFile: existsSync(assignFile) ? assignFile : undefined,
      embed: at(pfs.embed, id),
      histogram: at(pfs.histogram, id),
      tileDetect: at(pfs.tileDetect, id),
      outDir: slideOut,
    });
  }
  const shardOut = join(work, 'shard-out');
  mkdirSync(shardOut, { recursive: true });
  return (async () => {
    const shards = join(slideOut, 'shards');
    for (const set of existsSync(shards) ? readdirSync(shards) : [])
      for (const n of readdirSync(join(shards, set))) await runShard(join(shards, set, n), shardOut);
    if (existsSync(join(slideOut, 'unlisted'))) runUnlisted(join(slideOut, 'unlisted'), shardOut);
    const m = spawnMain('merge', {
      PFS_ROOT: pfs.root,
      merge_assign: join(assignRoot, 'out', 'cohort.json'),
      merge_shard: shardOut,
    });
    return { code: m.status, stderr: m.stderr };
  })();
}

function addPatients(pfs: PfsFixture, from: number, to: number, rows: string[]): void {
  for (let i = from; i < to; i++) {
    rows.push(`slide${i},patient${i},site${i % 4},${i % 2 ? 'luad' : 'lusc'}`);
    if (i === 3) writeFailedSlide(pfs, `slide${i}`);
    else writeSlideOutputs(pfs, `slide${i}`, slideData(i, 1 + (i % 4), DIM));
  }
  writeManifest(pfs, ['slide,patient,site,subtype', ...rows].join('\r\n') + '\r\n');
}

test('main.ts end to end: dataset, then pins kept when new patients arrive', async () => {
  const pfs = makePfs();
  try {
    const rows: string[] = [];
    addPatients(pfs, 0, 40, rows);
    const first = await runStage(pfs, { SPLIT_SEED: '11', EXPECTED_PATIENTS: '40', PATIENTS_PER_SHARD: '4' });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /"event":"dataset written"/);
    const info1 = readDatasetJson(pfs.out);
    assert.equal(info1.totals.patients, 39, 'patient3 (every slide failed) dropped');
    assert.deepEqual(
      info1.excluded.patients.map((p) => p.patient),
      ['patient3'],
    );
    assert.ok(info1.sets.train.shards.length > 1, 'several train shards');
    const splits1 = readFileSync(join(pfs.out, 'splits.csv'), 'utf8');

    // The user commits the assignment back and adds 20 patients.
    copyFileSync(join(pfs.out, 'splits.csv'), join(pfs.manifest, 'splits.csv'));
    rmSync(pfs.out, { recursive: true });
    mkdirSync(pfs.out);
    addPatients(pfs, 40, 60, rows);
    const second = await runStage(pfs, { SPLIT_SEED: '99' });
    assert.equal(second.code, 0, second.stderr);
    const info2 = readDatasetJson(pfs.out);
    assert.equal(info2.totals.patients, 59);
    assert.equal(info2.splits?.pinned, 39);
    const splits2 = new Map(
      readFileSync(join(pfs.out, 'splits.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    );
    for (const line of splits1.trim().split('\n').slice(1)) {
      const [patient, split] = line.split(',');
      assert.equal(splits2.get(patient), split, `${patient} kept its pinned split`);
    }
    const totals = ['train', 'val', 'eval'].map((s) => info2.sets[s].patients);
    // The 60 manifest patients are assigned 48/6/6 from the manifest alone; patient3 (no tiles) holds a val place.
    assert.deepEqual(totals, [48, 5, 6]);
  } finally {
    pfs.cleanup();
  }
});

test('main.ts: a bad manifest exits 1 with the line and column, and writes nothing', async () => {
  const pfs = makePfs();
  try {
    writeSlideOutputs(pfs, 'a', slideData(0, 2, DIM));
    writeManifest(pfs, 'slide,patient,site,subtype\na,p1,s1,luad\na,p2,s1,lusc\n');
    const r = await runStage(pfs);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /"component":"merge-assign","event":"failed".*"message":"[^"]*line 3, column 'slide' \(image_id\): duplicate image id 'a' \(first on line 2\).*"stack":/,
    );
    assert.deepEqual(readdirSync(pfs.out), []);
    const badParam = await runStage(pfs, { COMPRESSION: 'zstd' });
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
    const r = await runStage(pfs, { COMPRESSION: 'gzip', DATASET_KIND: 'inference' });
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
