import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDatasetJson } from '../../shared/contract/index.js';
import { findPatient, readPatients, verifyDataset } from '../../shared/dataset-reader.js';
import { Logger } from '../../shared/log.js';
import { ManifestError } from '../../stages/cohort/manifest.js';
import { EmptyDatasetError } from '../../stages/merge/merge.js';
import { runMerge } from '../helpers/run-merge.js';
import { writeSlideError } from '../../shared/slide-error.js';
import {
  config,
  makePfs,
  slideData,
  writeFailedSlide,
  writeManifest,
  writeSlideOutputs,
  writeTilesJson,
  type PfsFixture,
} from './cohort-fixture.js';

const DIM = 16;
const quiet = new Logger('merge', {}, { isTTY: false, write: () => {} });

/**
 * p1: two good slides; p2: its only slide failed upstream (dropped); p3: one good slide and one not processed yet;
 * p4: one slide whose histogram disagrees with its embeddings and one good slide; p5..p12: one good slide each;
 * plus `stray`, a slide with outputs but no manifest row.
 */
function cohort(pfs: PfsFixture, labels = true): void {
  const rows: string[][] = [
    ['s1', 'p1', 'A', 'tumor', 'first'],
    ['s2', 'p1', 'A', 'tumor', ''],
    ['s3', 'p2', 'A', 'normal', ''],
    ['s4', 'p3', 'B', 'tumor', ''],
    ['s5', 'p3', 'B', 'tumor', ''],
    ['s6', 'p4', 'B', 'normal', ''],
    ['s7', 'p4', 'B', 'normal', ''],
  ];
  for (let i = 5; i <= 12; i++) rows.push([`s${i + 3}`, `p${i}`, i % 2 ? 'A' : 'B', i % 3 ? 'tumor' : 'normal', '']);
  const header = labels ? 'slide,patient,site,subtype,comment' : 'slide,patient,site,comment';
  writeManifest(pfs, [header, ...rows.map((r) => (labels ? r : [r[0], r[1], r[2], r[4]]).join(','))].join('\n') + '\n');
  writeSlideOutputs(pfs, 's1', slideData(1, 3, DIM));
  writeSlideOutputs(pfs, 's2', slideData(2, 2, DIM));
  writeFailedSlide(pfs, 's3');
  writeSlideOutputs(pfs, 's4', slideData(4, 4, DIM));
  writeTilesJson(pfs, 's5', { grid: 6, kept: 2, dropped: { background: 4, max_tiles: 0 } }); // tile-detect done, embed not yet
  writeSlideOutputs(pfs, 's6', slideData(6, 2, DIM), { histogramCount: 3 });
  writeSlideOutputs(pfs, 's7', slideData(7, 1, DIM));
  for (let i = 8; i <= 15; i++) writeSlideOutputs(pfs, `s${i}`, slideData(i, 1 + (i % 3), DIM));
  writeSlideOutputs(pfs, 'stray', slideData(99, 2, DIM));
}

const mapped = { IMAGE_COLUMN: 'slide', PATIENT_COLUMN: 'patient', CENTER_COLUMN: 'site', LABEL_COLUMN: 'subtype' };

function run(pfs: PfsFixture, env: Record<string, string> = {}) {
  return runMerge({
    manifestDir: pfs.manifest,
    dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
    outDir: pfs.out,
    config: config({ ...mapped, ...env }),
    log: quiet,
  });
}

test('a labelled cohort: records, exclusions, splits, dataset.json and report', async () => {
  const pfs = makePfs();
  try {
    cohort(pfs);
    await run(pfs, { SPLIT_SEED: '5' });
    const info = readDatasetJson(pfs.out);
    assert.equal(info.kind, 'labeled');
    assert.deepEqual(info.label_names, ['normal', 'tumor']);
    assert.deepEqual(info.centers, [
      { name: 'A', id: 0 },
      { name: 'B', id: 1 },
    ]);
    assert.equal(info.embedding_dim, DIM);
    assert.deepEqual(info.features.embedding_avg, {
      kind: 'FixedLenSequenceFeature',
      dtype: 'float32',
      shape: [DIM],
      allow_missing: true,
    });
    assert.equal(info.compression, '');
    // p2 dropped; the others in records.
    assert.equal(info.totals.patients, 11);
    assert.deepEqual(
      info.excluded.patients.map((p) => p.patient),
      ['p2'],
    );
    assert.deepEqual(
      info.excluded.slides.map((s) => [s.slide, s.stage ?? '']),
      [
        ['s3', 'tile-extract'],
        ['s5', ''],
        ['s6', ''],
      ],
    );
    assert.match(info.excluded.slides[0].why, /Bogus marker length/);
    assert.match(info.excluded.slides[1].why, /no output yet from embed \(embeddings.safetensors\) and histogram/);
    assert.match(info.excluded.slides[2].why, /counts 3 tiles but embeddings.safetensors has 2/);
    assert.deepEqual(info.excluded.unlisted_slides, ['stray']);
    assert.deepEqual(info.models.embed.model_sha256, ['ab'.repeat(32)]);
    assert.deepEqual(info.models.embed.model_card, [{ name: 'test-model', output: { dim: DIM } }]);
    const setOf = new Map(
      readFileSync(join(pfs.out, 'splits.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    );
    assert.equal(setOf.size, 11);
    // Sets come from the manifest alone (p2, dropped for having no tiles, still holds its place): the sets listed are
    // those with patients in records, in train, val, eval order.
    assert.deepEqual(
      Object.keys(info.sets),
      ['train', 'val', 'eval'].filter((s) => [...setOf.values()].includes(s)),
    );
    assert.ok(info.sets.train.patients >= 8);

    // Every record: CRCs, decoding, counts against dataset.json.
    const check = await verifyDataset(pfs.out);
    assert.deepEqual(check.problems, []);
    const seen: string[] = [];
    for await (const r of readPatients(pfs.out)) {
      seen.push(r.patientId);
      assert.equal(r.set, setOf.get(r.patientId), `${r.patientId} is in the shard of its split`);
    }
    assert.deepEqual(seen.sort(), [...setOf.keys()].sort());

    const p1 = await findPatient(pfs.out, 'p1');
    assert.ok(p1);
    assert.deepEqual(p1.slideIds, ['s1', 's2']);
    assert.equal(p1.numTiles, 5);
    assert.equal(p1.label, 1);
    assert.equal(p1.centerId, 0);
    assert.deepEqual(p1.embeddingAvg.subarray(0, 3 * DIM), slideData(1, 3, DIM).avg);
    assert.deepEqual(p1.embeddingAvg.subarray(3 * DIM), slideData(2, 2, DIM).avg);
    const p4 = await findPatient(pfs.out, 'p4');
    assert.deepEqual(p4?.slideIds, ['s7'], 'the inconsistent slide is left out of its patient');

    const report = readFileSync(join(pfs.out, 'report.md'), 'utf8');
    assert.match(
      report,
      /\*\*Left out:\*\* 3 slide\(s\), 1 patient\(s\) with no tiles, 1 slide\(s\) with outputs but no manifest row/,
    );
    assert.match(report, /\| p2 \| no tiles: none of its 1 slide\(s\) has usable outputs \|/);
    assert.match(
      report,
      /\| s3 \| p2 \| error \| +\| +\| +\| 0 \| s3: \[tile-extract\] cannot read tiles: Bogus marker length/,
    );
    assert.match(
      report,
      /\| s1 \| p1 \| in \| 8 \| 3 \| background: 5, max_tiles: 0 \| 3 \| +\| first \|/,
      'tile-detect counts and the manifest comment',
    );
    assert.match(report, /\| p1 \| A \| tumor \| \w+ \| 2\/2 \| 5 \|/);
    assert.match(report, /## Patients per center and set/);
  } finally {
    pfs.cleanup();
  }
});

test('an inference manifest gives one inference set; GZIP and small shards', async () => {
  const pfs = makePfs();
  try {
    cohort(pfs, false);
    await run(pfs, { LABEL_COLUMN: 'subtype', COMPRESSION: 'gzip', EXPECTED_PATIENTS: '12', PATIENTS_PER_SHARD: '3' });
    const info = readDatasetJson(pfs.out);
    assert.equal(info.kind, 'inference');
    assert.deepEqual(Object.keys(info.sets), ['inference']);
    assert.equal(info.features.label, undefined);
    assert.deepEqual(info.label_names, []);
    assert.equal(info.compression, 'GZIP');
    assert.equal(info.splits, undefined);
    const files = readdirSync(join(pfs.out, 'inference')).sort();
    assert.ok(files.length > 1, `several shards: ${files}`);
    // 12 expected patients, 3 per shard: 4 shards, named by the configured count; a shard no patient hashes to is not written.
    for (const f of files) assert.match(f, /^inference-0000[0-3]-of-00004\.tfrecord$/);
    assert.deepEqual(
      info.sets.inference.shards.map((s) => s.file),
      files.map((f) => `inference/${f}`),
    );
    assert.deepEqual((await verifyDataset(pfs.out)).problems, []);
    for await (const r of readPatients(pfs.out)) assert.equal(r.label, undefined);
    assert.match(readFileSync(join(pfs.out, 'splits.csv'), 'utf8'), /^patient_id,split\np1,inference\np10,inference\n/);
  } finally {
    pfs.cleanup();
  }
});

test('a cohort where every slide failed gives an empty dataset that says why, not a crash', async () => {
  const pfs = makePfs();
  try {
    writeManifest(pfs, 'image_id,patient_id,center_id,label\na,p1,1,x\nb,p2,2,y\nc,p3,2,y\n');
    writeFailedSlide(pfs, 'a');
    writeFailedSlide(pfs, 'b', 'unsupported TIFF compression 52479');
    // A slide without tissue: empty embeddings, and tile-detect's reason in tiles.json.
    writeSlideOutputs(pfs, 'c', slideData(3, 0, DIM));
    writeTilesJson(
      pfs,
      'c',
      { grid: 4, kept: 0, dropped: { background: 4, max_tiles: 0 } },
      'every tile is background',
    );
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });
    const info = readDatasetJson(pfs.out);
    assert.deepEqual(info.sets, {});
    assert.equal(info.totals.patients, 0);
    assert.deepEqual(
      info.excluded.patients.map((p) => p.patient),
      ['p1', 'p2', 'p3'],
    );
    assert.deepEqual(info.excluded.slides[2], { slide: 'c', patient: 'p3', why: 'no tiles: every tile is background' });
    assert.deepEqual((await verifyDataset(pfs.out)).problems, []);
    assert.match(
      readFileSync(join(pfs.out, 'report.md'), 'utf8'),
      /\| b \| p2 \| tile-extract \| cannot read tiles: unsupported TIFF compression 52479 \|/,
    );
    assert.equal(readFileSync(join(pfs.out, 'splits.csv'), 'utf8'), 'patient_id,split\n');
  } finally {
    pfs.cleanup();
  }
});

test('a bad manifest fails before anything is written', async () => {
  const pfs = makePfs();
  try {
    cohort(pfs);
    writeManifest(pfs, 'slide,patient,site,subtype\ns1,p1,A,tumor\ns2,p1,B,tumor\n');
    await assert.rejects(
      run(pfs),
      (err: Error) =>
        err instanceof ManifestError &&
        /line 3, column 'site' \(center_id\): patient 'p1' is in center 'B' here but 'A' on line 2/.test(err.message),
    );
    writeManifest(pfs, 'slide,patient,site,subtype\ns1,p1,A,tumor\n');
    writeManifest(pfs, 'patient_id,split\np1,holdout\n', 'splits.csv');
    await assert.rejects(run(pfs), /splits\.csv: line 2, column 'split': 'holdout' is not one of train, val, eval/);
    assert.deepEqual(readdirSync(pfs.out), []);
  } finally {
    pfs.cleanup();
  }
});

test('no manifest slide with outputs, or every slide failing for one model reason: merge refuses and writes nothing', async () => {
  const pfs = makePfs();
  try {
    writeManifest(pfs, 'image_id,patient_id,center_id\na,p1,1\nb,p2,2\n');
    // tile-detect ran (the slides are there), embed has nothing (its model was deleted)
    writeTilesJson(pfs, 'a', { grid: 4, kept: 4, dropped: { background: 0, max_tiles: 0 } });
    writeTilesJson(pfs, 'b', { grid: 4, kept: 4, dropped: { background: 0, max_tiles: 0 } });
    await assert.rejects(
      runMerge({
        manifestDir: pfs.manifest,
        dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
        outDir: pfs.out,
        config: config(),
        log: quiet,
      }),
      (err: Error) =>
        err instanceof EmptyDatasetError &&
        /no slide of the manifest has outputs from embed and histogram, so no dataset is published and the previous one stays/.test(
          err.message,
        ) &&
        /2 slide\(s\): no output yet from embed \(embeddings\.safetensors\) and histogram \(histogram\.safetensors\) \(e\.g\. a, b\)/.test(
          err.message,
        ),
    );
    assert.deepEqual(readdirSync(pfs.out), []);

    const e = { stage: 'embed', what: "the embed model cannot run on the cohort's tiles", why: 'input [4,3,300,300]' };
    for (const s of ['a', 'b']) {
      writeSlideError(pfs.embed, s, e);
      writeSlideError(pfs.histogram, s, { ...e, passedThrough: [] });
    }
    await assert.rejects(
      runMerge({
        manifestDir: pfs.manifest,
        dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
        outDir: pfs.out,
        config: config(),
        log: quiet,
      }),
      /every slide failed for one model reason[\s\S]*2 slide\(s\): embed: the embed model cannot run/,
    );
    assert.deepEqual(readdirSync(pfs.out), []);
  } finally {
    pfs.cleanup();
  }
});

test('a manifest slide that no stage has seen is "not in the slides repo", not pending', async () => {
  const pfs = makePfs();
  try {
    writeManifest(pfs, 'image_id,patient_id,center_id\na,p1,1\nghost,p2,2\n');
    writeSlideOutputs(pfs, 'a', slideData(1, 2, DIM));
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });
    const info = readDatasetJson(pfs.out);
    assert.deepEqual(info.excluded.slides, [
      { slide: 'ghost', patient: 'p2', why: 'not in the slides repo: add the slide, or remove its manifest row' },
    ]);
  } finally {
    pfs.cleanup();
  }
});

test('a text center among numeric ones: the report says center_id was renumbered, with the mapping', async () => {
  const pfs = makePfs();
  try {
    writeManifest(pfs, 'image_id,patient_id,center_id\na,p1,11\nb,p2,4\nc,p3,7\nd,p4,site-x\n');
    for (const [i, s] of ['a', 'b', 'c', 'd'].entries()) writeSlideOutputs(pfs, s, slideData(i + 1, 1, DIM));
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });
    const report = readFileSync(join(pfs.out, 'report.md'), 'utf8');
    assert.match(
      report,
      /\*\*center_id renumbered:\*\* not every center is an integer \('site-x'\), so center_id is each center's place in sorted order; centers written as numbers changed: 11 -> 0, 4 -> 1, 7 -> 2\./,
    );
    writeManifest(pfs, 'image_id,patient_id,center_id\na,p1,11\nb,p2,4\nc,p3,7\nd,p4,7\n');
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });
    assert.doesNotMatch(
      readFileSync(join(pfs.out, 'report.md'), 'utf8'),
      /renumbered/,
      'integer centers keep their numbers',
    );
  } finally {
    pfs.cleanup();
  }
});

test('rows without a slide, slides without a row and their near misses (case, Unicode form) lead report and dataset.json', async () => {
  const pfs = makePfs();
  try {
    const composed = 'caf\u00e9-2';
    const decomposed = 'cafe\u0301-2';
    writeManifest(pfs, `image_id,patient_id,center_id,note\na,p1,1,fine\ns1,p2,1,\n${composed},p3,2,\nghost,p4,2,\n`);
    for (const [i, id] of ['a', 'S1', decomposed, 'stray'].entries()) writeSlideOutputs(pfs, id, slideData(i, 2, DIM));
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });
    const info = readDatasetJson(pfs.out);
    assert.deepEqual(info.manifest_match, {
      rows_without_slide: ['s1', composed, 'ghost'],
      slides_without_row: ['S1', decomposed, 'stray'].sort(),
      near_misses: [
        { row: 's1', slide: 'S1', differ: 'case' },
        { row: composed, slide: decomposed, differ: 'unicode' },
      ],
    });
    const report = readFileSync(join(pfs.out, 'report.md'), 'utf8');
    const top = report.slice(0, report.indexOf('## Sets'));
    assert.ok(top.includes(`- 3 manifest row(s) with no slide: "s1", "${composed}", "ghost"`), top);
    assert.match(top, /- 3 slide\(s\) with no manifest row: /);
    assert.match(top, /- row "s1" and slide "S1" differ only in upper\/lower case: rename one so they match/);
    assert.ok(
      top.includes(
        `- row "${composed}" (U+00E9) and slide "${decomposed}" (U+0301) differ only in Unicode form, composed or ` +
          'decomposed accents (compared in NFC): rename one so they match',
      ),
      top,
    );
    // the manifest's own `note` column is not a second `note` in the per-slide table
    const slideHeader = report.split('\n').find((l) => l.startsWith('| slide | patient | status |'));
    assert.equal(slideHeader, '| slide | patient | status | grid | kept | dropped | tiles | note | note (manifest) |');
  } finally {
    pfs.cleanup();
  }
});

test('a cohort whose rows and slides all match has no manifest_match and no such lines', async () => {
  const pfs = makePfs();
  try {
    writeManifest(pfs, 'image_id,patient_id,center_id\na,p1,1\nb,p2,2\n');
    writeSlideOutputs(pfs, 'a', slideData(1, 2, DIM));
    writeSlideOutputs(pfs, 'b', slideData(2, 2, DIM));
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });
    assert.ok(!('manifest_match' in JSON.parse(readFileSync(join(pfs.out, 'dataset.json'), 'utf8'))));
    assert.doesNotMatch(readFileSync(join(pfs.out, 'report.md'), 'utf8'), /Manifest and slides/);
  } finally {
    pfs.cleanup();
  }
});
