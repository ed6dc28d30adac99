/**
 * The README's main job on a small cohort: the whole DAG through the embedded engine, then the two stories.
 * Runs the CLI exactly as a user does (`tessella demo`), so it needs the build (`scripts/setup` does it).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findChromium, NO_CHROMIUM } from './helpers/chromium.js';
import { checkQcPage } from './helpers/qc-page-check.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = existsSync(join(root, 'dist', 'stages', 'merge', 'main.js'));

type Counts = Record<string, { processed: number; skipped: number; failed: number }>;

// The demo's output, kept for the QC page's browser test below (node:test runs a file's tests in order).
const out = mkdtempSync(join(tmpdir(), 'tessella-demo-'));
let demoDone = false;
after(() => rmSync(out, { recursive: true, force: true }));

test('demo: whole cohort, then one new slide, then a new embed model', {
  skip: built ? false : 'needs the build: run ./scripts/setup (or npm run build) first',
  timeout: 600_000,
}, () => {
  const r = spawnSync(
    process.execPath,
    [join(root, 'bin', 'tessella.js'), 'demo', '--out', out, '--patients', '3', '--slide-size', '2400'],
    {
      cwd: root,
      env: { ...process.env, TESSELLA_HOME: join(out, '.tessella'), TESSELLA_LOG_FORMAT: 'json' },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
  assert.equal(r.status, 0, `demo failed:\n${r.stdout}\n${r.stderr.slice(-4000)}`);
  const summary = JSON.parse(readFileSync(join(out, 'demo-summary.json'), 'utf8')) as {
    first: Counts;
    newSlide: Counts;
    newModel: Counts;
    slides: number;
  };
  const perSlide = ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram'];
  const initial = summary.slides - 1; // one slide is held back for story 1
  for (const p of perSlide) {
    assert.deepEqual(summary.first[p], { processed: initial, skipped: 0, failed: 0 }, `first run, ${p}`);
    assert.deepEqual(summary.newSlide[p], { processed: 1, skipped: initial, failed: 0 }, `new slide, ${p}`);
  }
  assert.equal(summary.first.merge.processed, 1);
  assert.equal(summary.newSlide.merge.processed, 1);
  // A new embed model: nothing upstream of embed runs a datum; embed re-runs every slide; merge re-runs.
  for (const p of ['tile-detect', 'tile-extract', 'normalize', 'histogram']) {
    assert.equal(summary.newModel[p].processed, 0, `new model, ${p} processed`);
  }
  assert.deepEqual(summary.newModel.embed, { processed: summary.slides, skipped: 0, failed: 0 });
  assert.equal(summary.newModel.merge.processed, 1);

  const dataset = JSON.parse(readFileSync(join(out, 'dataset', 'dataset.json'), 'utf8'));
  assert.ok(dataset, 'dataset.json exported');
  assert.ok(existsSync(join(out, 'dataset', 'report.md')));
  assert.match(r.stdout, /Story 1/);
  assert.match(r.stdout, /Story 2/);
  assert.ok(existsSync(join(out, 'dataset', 'report.html')), 'report.html exported');
  // the store the demo leaves (three runs, a model swap) is sound by its own check, blobs hashed
  const fsck = spawnSync(process.execPath, [join(root, 'bin', 'tessella.js'), 'fsck', '-o', 'json'], {
    cwd: root,
    env: { ...process.env, TESSELLA_HOME: join(out, '.tessella') },
    encoding: 'utf8',
  });
  assert.equal(fsck.status, 0, `fsck after the demo:\n${fsck.stdout}\n${fsck.stderr}`);
  assert.equal(JSON.parse(fsck.stdout).ok, true);
  demoDone = true;
});

const chromium = findChromium();
test('demo: the cohort QC page in headless Chromium', {
  skip: !built ? 'needs the build' : chromium ? false : NO_CHROMIUM,
  timeout: 120_000,
}, async () => {
  assert.ok(demoDone, 'the demo test above ran');
  const dataset = join(out, 'dataset');
  const manifest = readFileSync(join(out, 'cohort', 'manifest.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1);
  // The corrupt fixture is the demo's bad slide when ../shared is there; without it every slide is good.
  const bad = manifest.some((l) => l.startsWith('corrupt,')) ? 'corrupt' : undefined;
  const screenshot = join(out, 'report-html.png');
  const page = await checkQcPage(chromium!, dataset, { badSlide: bad, screenshot });
  assert.deepEqual(page.messages, [], 'no console errors, exceptions or failed loads');
  assert.equal(page.cards, manifest.length, 'a card per manifest slide');
  assert.equal(page.picturesBroken, 0, 'every card picture loads');
  assert.equal(page.pictures, readdirSync(join(dataset, 'qc')).filter((f) => f.endsWith('.jpg')).length);
  assert.equal(page.missingScripts, 0, "every shard's card script loads");
  if (bad) assert.match(page.badSlideNote!, /corrupt: \[tile-detect\] .+: .+/, 'the bad slide shows its reason');
  // The status filter: 'error' shows the bad slide's card only (none in a cohort without one).
  assert.equal(page.filteredByStatus, bad ? 1 : 0, 'the status filter hides the other cards');
  assert.ok(existsSync(screenshot));
});
