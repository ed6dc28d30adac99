import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { decodePatientRecord, featureSpec } from '../../shared/contract/index.js';
import { encodePatient } from '../../stages/merge-shard/patient-record.js';
import { planShards, writeShards } from '../../stages/merge-shard/shards.js';
import type { SlideTensors } from '../../stages/merge-shard/patient-tiles.js';
import { slideData } from './cohort-fixture.js';
import { framedRecords } from '../helpers/tfrecord-by-hand.js';

const DIM = 24;

function tensors(slideId: string, index: number, tiles: number): SlideTensors {
  const d = slideData(index, tiles, DIM);
  return { slideId, avg: d.avg, max: d.max, loc: d.loc, histogramSum: d.sum, histogramCount: d.count };
}

const slides = [tensors('slide-a', 1, 3), tensors('slide-b', 2, 5)];
const patient = { patientId: 'TCGA-ü-01', centerId: 12, label: 1 };

/** Decoder independent of the encoder: protobufjs parsing a .proto written from TensorFlow's field numbers. */
async function protoExample(): Promise<protobuf.Type> {
  const root = await protobuf.load(new URL('./example.proto', import.meta.url).pathname);
  return root.lookupType('tensorflow.Example');
}

function plain(msg: protobuf.Message, type: protobuf.Type) {
  return type.toObject(msg, { longs: String, bytes: Buffer }) as {
    features: {
      feature: Record<
        string,
        { bytesList?: { value: Buffer[] }; floatList?: { value: number[] }; int64List?: { value: string[] } }
      >;
    };
  };
}

test('every feature round-trips, checked by a decoder built from example.proto', async () => {
  const buf = encodePatient(patient, slides, DIM);
  const Example = await protoExample();
  assert.equal(Example.verify(Example.decode(buf)), null);
  const f = plain(Example.decode(buf), Example).features.feature;

  // Exactly DESIGN.md's features, no more, no less.
  assert.deepEqual(Object.keys(f).sort(), Object.keys(featureSpec(DIM, true)).sort());

  assert.deepEqual(f.patient_id.bytesList!.value.map(String), ['TCGA-ü-01']);
  assert.deepEqual(f.center_id.int64List!.value, ['12']);
  assert.deepEqual(f.label.int64List!.value, ['1']);
  assert.deepEqual(f.num_tiles.int64List!.value, ['8']);
  assert.deepEqual(f.embedding_dim.int64List!.value, [String(DIM)]);
  // Tiles of slide-a then slide-b, each in tile order.
  const concat = (key: 'avg' | 'max') => Float32Array.from([...slides[0][key], ...slides[1][key]]);
  assert.deepEqual(Float32Array.from(f.embedding_avg.floatList!.value), concat('avg'));
  assert.deepEqual(Float32Array.from(f.embedding_max.floatList!.value), concat('max'));
  assert.equal(f.embedding_avg.floatList!.value[5 * DIM + 2], 2000 + 2 + 2 / 1024, 'tile 5 is slide-b tile 2');
  assert.deepEqual(f.slide_ids.bytesList!.value.map(String), ['slide-a', 'slide-b']);
  assert.deepEqual(f.tile_slide.int64List!.value, ['0', '0', '0', '1', '1', '1', '1', '1']);
  assert.deepEqual(f.tile_loc_x.int64List!.value.map(Number), [224, 672, 1120, 224, 672, 1120, 1568, 2016]);
  assert.deepEqual(f.tile_loc_y.int64List!.value.map(Number), [672, 672, 672, 1120, 1120, 1120, 1120, 1120]);
  // Histogram: the mean over all 8 tiles of per-tile histograms (each summing to 1).
  const hist = Float32Array.from(f.color_histogram.floatList!.value);
  assert.equal(hist.length, 4096);
  assert.ok(Math.abs(hist.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  const expected = new Float32Array(4096);
  for (const s of slides) for (let b = 0; b < 4096; b++) expected[b] += s.histogramSum[b];
  for (let b = 0; b < 4096; b++) expected[b] = Math.fround(expected[b] / 8);
  assert.deepEqual(hist, expected);
  assert.ok(Math.abs(hist[1] - (3 * 0.75) / 8) < 1e-7 && Math.abs(hist[114] - (5 * 0.25) / 8) < 1e-7);

  // The project's reader agrees with the independent decoder.
  const r = decodePatientRecord(buf);
  assert.equal(r.patientId, 'TCGA-ü-01');
  assert.equal(r.centerId, 12);
  assert.equal(r.label, 1);
  assert.equal(r.numTiles, 8);
  assert.deepEqual(r.embeddingAvg, concat('avg'));
  assert.deepEqual(r.colorHistogram, hist);
  assert.deepEqual(r.tileSlide, [0, 0, 0, 1, 1, 1, 1, 1]);
});

test('an inference record has no label; a patient without slides is refused', async () => {
  const buf = encodePatient({ patientId: 'p', centerId: 0 }, [slides[0]], DIM);
  const Example = await protoExample();
  const f = plain(Example.decode(buf), Example).features.feature;
  assert.deepEqual(Object.keys(f).sort(), Object.keys(featureSpec(DIM, false)).sort());
  assert.equal(decodePatientRecord(buf).label, undefined);
  assert.throws(() => encodePatient({ patientId: 'p', centerId: 0 }, [], DIM), /patient 'p': no slides with tiles/);
  assert.throws(
    () => encodePatient({ patientId: 'p', centerId: 0 }, [slides[0]], DIM + 1),
    /slide 'slide-a': embeddings do not match dimension 25/,
  );
});

test('shards: names, sizes near the target, framing and GZIP as TensorFlow reads them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'merge-shards-'));
  try {
    const ids = Array.from({ length: 10 }, (_, i) => `p${i}`);
    const records = new Map(
      ids.map((id, i) => [
        id,
        encodePatient({ patientId: id, centerId: i % 3, label: i % 2 }, [tensors(`s${i}`, i, 2 + i)], DIM),
      ]),
    );
    const bytes = [...records.values()].reduce((a, b) => a + b.length, 0);
    const plans = planShards(
      'train',
      ids.map((id) => ({ patientId: id, bytes: records.get(id)!.length })),
      bytes / 3,
      'seed',
    );
    assert.deepEqual(
      plans.map((p) => p.file),
      [
        'train/train-00000-of-00003.tfrecord',
        'train/train-00001-of-00003.tfrecord',
        'train/train-00002-of-00003.tfrecord',
      ],
    );
    assert.deepEqual(plans.flatMap((p) => p.patients).sort(), ids.sort(), 'every patient in exactly one shard');
    assert.notDeepEqual(
      plans.flatMap((p) => p.patients),
      ids,
      'spread in a seeded order, not id order',
    );
    assert.deepEqual(
      planShards(
        'train',
        ids.map((id) => ({ patientId: id, bytes: 1 })),
        1e9,
        'seed',
      ).length,
      1,
    );
    assert.equal(
      planShards(
        'val',
        ids.slice(0, 2).map((id) => ({ patientId: id, bytes: 100 })),
        1,
        's',
      ).length,
      2,
      'never more shards than patients',
    );

    for (const gzip of [false, true]) {
      const out = join(dir, gzip ? 'gz' : 'plain');
      const written = await writeShards(out, plans, (id) => records.get(id)!, { gzip });
      assert.deepEqual(
        readdirSync(join(out, 'train')).sort(),
        plans.map((p) => p.file.split('/')[1]).sort(),
        'no temp files left',
      );
      for (const [i, plan] of plans.entries()) {
        let raw = readFileSync(join(out, plan.file));
        if (gzip) {
          assert.deepEqual([raw[0], raw[1]], [0x1f, 0x8b], 'a GZIP stream');
          raw = gunzipSync(raw);
        }
        assert.deepEqual(
          framedRecords(raw),
          plan.patients.map((id) => records.get(id)!),
        );
        assert.equal(written[i].records, plan.patients.length);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failure while writing removes the shards already written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'merge-shards-'));
  try {
    const plans = planShards(
      'eval',
      ['a', 'b', 'c'].map((id) => ({ patientId: id, bytes: 10 })),
      10,
      's',
    );
    const last = plans[2].patients[0];
    await assert.rejects(
      writeShards(dir, plans, (id) => {
        if (id === last) throw new Error('slide vanished');
        return Buffer.from(id);
      }),
      /slide vanished/,
    );
    assert.deepEqual(readdirSync(join(dir, 'eval')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
