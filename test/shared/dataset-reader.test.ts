import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { featureSpec, readDatasetJson } from '../../shared/contract/index.js';
import { readPatients, verifyDataset } from '../../shared/dataset-reader.js';
import { encodeExample } from '../../shared/example.js';
import { TFRecordWriter } from '../../shared/tfrecord.js';
import { Logger } from '../../shared/log.js';
import { runMerge } from '../helpers/run-merge.js';
import { main as datasetCli } from '../../app/verbs/dataset.js';
import {
  config,
  makePfs,
  slideData,
  writeManifest,
  writeSlideOutputs,
  type PfsFixture,
} from '../merge/cohort-fixture.js';

const quiet = new Logger('merge', {}, { isTTY: false, write: () => {} });

async function smallDataset(env: Record<string, string> = {}): Promise<PfsFixture> {
  const pfs = makePfs('dataset-reader');
  const rows = ['image_id,patient_id,center_id,label'];
  for (let i = 0; i < 12; i++) {
    rows.push(`s${i},p${i},${i % 3},${i % 2 ? 'b' : 'a'}`);
    writeSlideOutputs(pfs, `s${i}`, slideData(i, 2 + (i % 3), 4));
  }
  writeManifest(pfs, rows.join('\n'));
  await runMerge({
    manifestDir: pfs.manifest,
    dirs: { embed: pfs.embed, histogram: pfs.histogram },
    outDir: pfs.out,
    config: config({ SHARD_SIZE_MB: '0.0005', ...env }),
    log: quiet,
  });
  return pfs;
}

test('verify finds a flipped byte, a missing shard and a record count that disagrees', async () => {
  const pfs = await smallDataset();
  try {
    const info = readDatasetJson(pfs.out);
    assert.deepEqual((await verifyDataset(pfs.out, info)).problems, []);
    const [first, second] = info.sets.train.shards;

    const path = join(pfs.out, first.file);
    const bytes = readFileSync(path);
    bytes[bytes.length - 100] ^= 0x01; // inside the last record's floats
    writeFileSync(path, bytes);
    rmSync(join(pfs.out, second.file));
    const check = await verifyDataset(pfs.out, info);
    assert.equal(check.ok, false);
    assert.match(check.problems[0], new RegExp(`^${first.file}: .*record \\d+ at byte \\d+: data CRC mismatch`));
    assert.equal(check.problems[1], `${second.file}: file is missing`);

    // dataset.json says more records than the shard holds.
    const edited = structuredClone(info);
    rmSync(path);
    const w = await TFRecordWriter.open(path);
    await w.write(
      encodeExample({
        patient_id: { bytes: ['x'] },
        center_id: { int64: [0] },
        num_tiles: { int64: [0] },
        embedding_dim: { int64: [4] },
        embedding_avg: { float: [] },
        embedding_max: { float: [] },
        color_histogram: { float: new Float32Array(4096) },
        slide_ids: { bytes: [] },
        tile_slide: { int64: [] },
        tile_loc_x: { int64: [] },
        tile_loc_y: { int64: [] },
      }),
    );
    await w.close();
    edited.sets.train.shards = [{ ...first, records: 2 }];
    assert.deepEqual(
      (await verifyDataset(pfs.out, edited)).problems[0],
      `${first.file}: 1 records, dataset.json says 2`,
    );
  } finally {
    pfs.cleanup();
  }
});

test('an inconsistent record and a foreign dataset.json are refused with the reason', async () => {
  const pfs = await smallDataset();
  try {
    const info = readDatasetJson(pfs.out);
    const file = info.sets.train.shards[0].file;
    const w = await TFRecordWriter.open(join(pfs.out, file));
    // num_tiles says 2 but only one tile's floats are there.
    await w.write(
      encodeExample({
        patient_id: { bytes: ['bad'] },
        center_id: { int64: [0] },
        num_tiles: { int64: [2] },
        embedding_dim: { int64: [4] },
        embedding_avg: { float: new Float32Array(4) },
        embedding_max: { float: new Float32Array(8) },
        color_histogram: { float: new Float32Array(4096) },
        slide_ids: { bytes: ['s'] },
        tile_slide: { int64: [0, 0] },
        tile_loc_x: { int64: [1, 2] },
        tile_loc_y: { int64: [1, 2] },
      }),
    );
    await w.close();
    await assert.rejects(async () => {
      for await (const _ of readPatients(pfs.out, { info })) void _;
    }, /record of patient 'bad' is inconsistent: embeddingAvg has 4 floats, expected 2 x 4/);
    writeFileSync(join(pfs.out, 'dataset.json'), JSON.stringify({ ...info, format: 'other', embedding_dim: 'x' }));
    assert.throws(
      () => readDatasetJson(pfs.out),
      /not a tessella dataset description:\n {2}format: .*\n {2}embedding_dim: /,
    );
    assert.throws(() => readDatasetJson(pfs.root), /no dataset.json; is this the output of the merge stage\?/);
  } finally {
    pfs.cleanup();
  }
});

test('the feature spec is what tf.io.parse_single_example needs for each feature', () => {
  const spec = featureSpec(1280, true);
  assert.deepEqual(spec.embedding_max, {
    kind: 'FixedLenSequenceFeature',
    dtype: 'float32',
    shape: [1280],
    allow_missing: true,
  });
  assert.deepEqual(spec.color_histogram, { kind: 'FixedLenFeature', dtype: 'float32', shape: [4096] });
  assert.deepEqual(spec.label, { kind: 'FixedLenFeature', dtype: 'int64', shape: [] });
  assert.equal(featureSpec(1280, false).label, undefined);
});

test('tessella dataset: summary, one patient, --verify, and the exit codes', async () => {
  const pfs = await smallDataset({ COMPRESSION: 'gzip' });
  try {
    const lines: string[] = [];
    const say = (s: string) => void lines.push(s);
    assert.equal(await datasetCli([pfs.out, '--patient', 'p4', '--verify'], say), 0);
    const text = lines.join('\n');
    assert.match(text, /labelled dataset, embedding dim 4, GZIP/);
    assert.match(text, /labels: 0=a, 1=b/);
    assert.match(text, /^total\s+12\s+12\s+36$/m);
    assert.match(text, /^patient p4: set \w+ \(\w+\/\w+-\d{5}-of-\d{5}\.tfrecord\)$/m);
    assert.match(text, /center_id 1 \(1\), label 0 \(a\)/);
    assert.match(text, /3 tiles from 1 slide\(s\): s4 \(3\)/);
    assert.match(text, /color_histogram: sums to 1\.0000/);
    assert.match(text, /verified: \d+ shards, every record's CRCs and contents check out/);

    lines.length = 0;
    assert.equal(await datasetCli([pfs.out, '--json', '--patient', 'p1'], say), 0);
    const json = JSON.parse(lines.join('\n'));
    assert.equal(json.summary.totals.patients, 12);
    assert.equal(json.patient.num_tiles, 3);
    assert.deepEqual(json.patient.tile_loc_x, { min: 224, max: 1120 });

    assert.equal(await datasetCli([pfs.out, '--patient', 'nobody'], () => {}), 1);
    assert.equal(await datasetCli([], () => {}), 2);
    assert.equal(await datasetCli([pfs.out, '--bogus'], () => {}), 2);
    const shard = readDatasetJson(pfs.out).sets.train.shards[0].file;
    writeFileSync(join(pfs.out, shard), Buffer.from('not gzip, not a tfrecord'));
    lines.length = 0;
    assert.equal(await datasetCli([pfs.out, '--verify'], say), 1);
    assert.match(lines.join('\n'), new RegExp(`FAIL ${shard}`));
  } finally {
    pfs.cleanup();
  }
});
