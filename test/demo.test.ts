/**
 * The README's main job on a small cohort: the whole DAG through the embedded engine, then the two stories.
 * Runs the CLI exactly as a user does (`tessella demo`), so it needs the build (`scripts/setup` does it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = existsSync(join(root, 'dist', 'stages', 'merge', 'main.js'));

type Counts = Record<string, { processed: number; skipped: number; failed: number }>;

test('demo: whole cohort, then one new slide, then a new embed model', { skip: built ? false : 'needs the build: run ./scripts/setup (or npm run build) first', timeout: 600_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'tessella-demo-'));
  try {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'tessella.js'), 'demo', '--out', out, '--patients', '3', '--slide-size', '2400'], {
      cwd: root,
      env: { ...process.env, TESSELLA_HOME: join(out, '.tessella'), TESSELLA_LOG_FORMAT: 'json' },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, `demo failed:\n${r.stdout}\n${r.stderr.slice(-4000)}`);
    const summary = JSON.parse(readFileSync(join(out, 'demo-summary.json'), 'utf8')) as {
      first: Counts; newSlide: Counts; newModel: Counts; slides: number;
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
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
