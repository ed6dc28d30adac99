/**
 * report.html from merge's own pieces: one card per manifest slide with its scaled-down overlay linked beside the
 * page, counts and histogram from tiles.json, the reason of every bad slide, report.md's tables, filter values; and
 * the per-slide piece (merge-slide's /qc) made once per slide. The page in a real browser: test/demo.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Logger } from '../../shared/log.js';
import { runMerge } from '../helpers/run-merge.js';
import { buildQcCard, CARD_PICTURE_SIDE } from '../../stages/merge-slide/qc-card.js';
import { tissueHistogram } from '../../stages/tile-detect/tissue-histogram.js';
import { assembledPage, cardStatuses } from '../helpers/qc-page-text.js';
import { handMadeTilesJson, writeHandMadeTilesJson } from '../helpers/tiles-json.js';
import {
  config,
  makePfs,
  slideData,
  writeFailedSlide,
  writeManifest,
  writeSlideOutputs,
  type PfsFixture,
} from './cohort-fixture.js';

const quiet = new Logger('merge', {}, { isTTY: false, write: () => {} });

/** tile-detect's output as it writes it: tiles.json with the grid histogram, and a 1200 x 900 overlay. */
async function writeDetectOutput(pfs: PfsFixture, slide: string, fractions: number[]): Promise<void> {
  const dir = join(pfs.tileDetect, slide);
  mkdirSync(join(dir, 'qc'), { recursive: true });
  const kept = fractions.filter((f) => f >= 0.9).length;
  const counts = { grid: fractions.length, kept, dropped: { background: fractions.length - kept, max_tiles: 0 } };
  const tilesJson = { ...handMadeTilesJson(slide, { counts }), tissue_histogram: tissueHistogram(fractions) };
  writeHandMadeTilesJson(dir, tilesJson);
  const overlay = await sharp({
    create: { width: 1200, height: 900, channels: 3, background: { r: 230, g: 200, b: 220 } },
  })
    .jpeg()
    .toBuffer();
  writeFileSync(join(dir, 'qc', 'tiles.jpg'), overlay);
}

test('tissue histogram: 20 bins over every grid tile, a fraction of 1 in the last', () => {
  const h = tissueHistogram([0, 0, 0.049, 0.05, 0.5, 0.95, 1]);
  assert.equal(h.bins, 20);
  assert.equal(h.counts.length, 20);
  assert.equal(h.counts[0], 3);
  assert.equal(h.counts[1], 1);
  assert.equal(h.counts[10], 1);
  assert.equal(h.counts[19], 2);
  assert.equal(
    h.counts.reduce((a, b) => a + b, 0),
    7,
  );
});

test('a QC card: the overlay scaled to the card, the histogram and threshold from tiles.json; none without tile-detect', async () => {
  const pfs = makePfs('qc-card-');
  try {
    await writeDetectOutput(pfs, 's1', [0, 0, 0.3, 0.95, 1]);
    const { card, picture } = await buildQcCard('s1', join(pfs.tileDetect, 's1'));
    assert.deepEqual(card.picture, { width: CARD_PICTURE_SIDE, height: 240 });
    const meta = await sharp(picture!).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, CARD_PICTURE_SIDE);
    assert.ok(picture!.length < 20_000, `card picture ${picture!.length} bytes`);
    assert.equal(card.keepAt, 0.9);
    assert.equal(card.histogram?.keptOnly, false);
    assert.equal(card.histogram?.counts[0], 2);
    // The same input gives the same bytes (outputs are a pure function of inputs).
    assert.ok((await buildQcCard('s1', join(pfs.tileDetect, 's1'))).picture!.equals(picture!));
    assert.deepEqual(await buildQcCard('gone', undefined), { card: { slide: 'gone' } });
  } finally {
    pfs.cleanup();
  }
});

test('report.html: a card per manifest slide, pictures beside the page, bad slides with their reason, the tables', async () => {
  const pfs = makePfs('report-html-');
  try {
    writeManifest(
      pfs,
      [
        'image_id,patient_id,center_id,label',
        's1,p1,A,tumor',
        's2,p1,A,tumor',
        's3,p2,B,normal',
        's4,p3,B,normal',
        's<5>,p4,A,normal',
      ].join('\n') + '\n',
    );
    writeSlideOutputs(pfs, 's1', slideData(1, 3, 8));
    writeSlideOutputs(pfs, 's2', slideData(2, 2, 8));
    writeSlideOutputs(pfs, 's<5>', slideData(5, 2, 8));
    writeFailedSlide(pfs, 's3', 'Bogus marker length');
    writeSlideOutputs(pfs, 'stray', slideData(9, 1, 8));
    await writeDetectOutput(pfs, 's1', [0, 0, 0.95, 1, 0.92]);
    await writeDetectOutput(pfs, 's<5>', [0.5, 1, 1]);
    // s4: nothing yet from any stage.
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config(),
      log: quiet,
    });

    const { html, page, scripts } = assembledPage(pfs.out);
    assert.deepEqual(cardStatuses(html), ['in', 'in', 'error', 'left out', 'in']);
    // The cards come from the shards' scripts, one tag per shard: the page itself holds no card.
    assert.ok(scripts.length > 0);
    assert.ok(!page.includes('<article'), 'no card rendered in report.html itself');
    for (const s of scripts) assert.match(s, /^qc\/(train|val|eval)-\d{5}\.js$/);
    // The bad slide's card says what and why; the unprocessed one why it is not in.
    const card = (id: string) =>
      html.slice(
        html.indexOf(`<span class="id">${id}</span>`),
        html.indexOf('</article>', html.indexOf(`<span class="id">${id}</span>`)),
      );
    assert.match(card('s3'), /class="note">s3: \[tile-extract\] cannot read tiles: Bogus marker length/);
    assert.match(card('s4'), /class="note">not in the slides repo/);
    // Pictures: linked beside the page (copied here, outside a pipeline) and referenced with the id escaped for a URL.
    assert.deepEqual(
      readdirSync(join(pfs.out, 'qc'))
        .filter((f) => f.endsWith('.jpg'))
        .sort(),
      ['s1.jpg', 's<5>.jpg'],
    );
    assert.match(card('s1'), /<img class="pic" src="qc\/s1.jpg" width="320" height="240" loading="lazy"/);
    assert.match(card('s&lt;5&gt;'), /src="qc\/s%3C5%3E.jpg"/);
    assert.ok(!html.includes('s<5>'), 'ids are escaped in HTML');
    assert.ok(!page.includes('s<5>'), 'ids are escaped in HTML');
    assert.match(card('s2'), /no picture: tile-detect has no output for it/);
    // Counts and histogram.
    assert.match(
      card('s1'),
      /<dt>grid<\/dt><dd>5<\/dd><dt>kept<\/dt><dd>3<\/dd><dt>dropped \(background\)<\/dt><dd>2<\/dd>/,
    );
    assert.match(
      card('s1'),
      /<svg width="120" height="36"[^>]*><title>[^<]*: 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 2<\/title>/,
    );
    assert.match(card('s1'), /kept &ge; 0.9/);
    // Filters and the tables of report.md.
    for (const f of ['set', 'center', 'status']) assert.match(html, new RegExp(`<select data-filter="${f}">`));
    assert.match(html, /<option value="A">A<\/option><option value="B">B<\/option>/);
    for (const h of [
      'Sets',
      'Patients per center and set',
      'Patients per label and set',
      'Patients dropped',
      'Slides left out',
      'Per patient',
      'Slides with outputs but no manifest row',
    ]) {
      assert.ok(html.includes(`<h2>${h}</h2>`), h);
    }
    assert.equal(
      [...html.matchAll(/<tr data-set="[a-z]*" data-center="[AB]">/g)].length,
      4,
      'a filterable row per patient',
    );
    assert.match(html, /<li>stray<\/li>/);
    // Self-contained: nothing fetched from elsewhere.
    assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no network references');
    assert.ok(!/(src|href)="(https?:)?\/\//.test(page), 'no network references');
    // Pure function of the inputs: a second run gives the same page.
    const again = makePfs('report-html-again-');
    try {
      await runMerge({
        manifestDir: pfs.manifest,
        dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
        outDir: again.out,
        config: config(),
        log: quiet,
      });
      assert.equal(readFileSync(join(again.out, 'report.html'), 'utf8'), page);
      assert.equal(assembledPage(again.out).html, html);
      assert.ok(existsSync(join(again.out, 'qc', 's1.jpg')));
    } finally {
      again.cleanup();
    }
  } finally {
    pfs.cleanup();
  }
});

test('report.html: the last step reads no card of a shard it takes as is, and renders the cards of a shard the cohort leaves out', async () => {
  const pfs = makePfs('report-html-dim-');
  try {
    const ids = Array.from({ length: 8 }, (_, i) => `s${i}`);
    writeManifest(
      pfs,
      ['image_id,patient_id,center_id', ...ids.map((s, i) => `${s},p${i},A`), 'odd,podd,B'].join('\n') + '\n',
    );
    ids.forEach((s, i) => writeSlideOutputs(pfs, s, slideData(i, 2, 8)));
    writeSlideOutputs(pfs, 'odd', slideData(9, 2, 4)); // another model's dimension, alone in its shard
    await writeDetectOutput(pfs, 'odd', [0.5, 1, 1]);
    await writeDetectOutput(pfs, 's0', [1, 1]);
    await runMerge({
      manifestDir: pfs.manifest,
      dirs: { embed: pfs.embed, histogram: pfs.histogram, tileDetect: pfs.tileDetect },
      outDir: pfs.out,
      config: config({ EXPECTED_PATIENTS: '40', PATIENTS_PER_SHARD: '1' }),
      log: quiet,
    });
    const { html, page, scripts } = assembledPage(pfs.out);
    // Every slide once; only the left-out shard's card is in the page itself, with its QC card (picture, histogram).
    assert.equal(cardStatuses(html).length, 9);
    const inPage = [...page.matchAll(/<span class="id">([^<]+)<\/span>/g)].map((m) => m[1]);
    assert.deepEqual(inPage, ['odd']);
    assert.equal(scripts.length, 8, 'one script per shard taken as is');
    const odd = page.slice(page.indexOf('<span class="id">odd</span>'), page.indexOf('</article>'));
    assert.match(odd, /<span class="badge left-out">left out<\/span>/);
    assert.match(odd, /class="note">embedding dimension 4 differs from the cohort&#39;s 8/);
    assert.match(odd, /<img class="pic" src="qc\/odd.jpg"/);
    assert.ok(existsSync(join(pfs.out, 'qc', 'odd.jpg')));
    assert.match(odd, /<svg width="120"/);
  } finally {
    pfs.cleanup();
  }
});
