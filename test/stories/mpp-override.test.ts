/**
 * The manifest's resolution column through the engine's CLI, with physical tiles (TARGET_MPP) on: a slide that does
 * not say its resolution gets error.json; a manifest row giving it re-runs that slide's tile-detect datum only, which
 * now has tiles and says the mpp came from the manifest; a change to an unrelated column re-runs no tile-detect datum;
 * an override for a slide that is not in the slides repo makes no datum; a manifest merge would refuse (a row without
 * a patient id) still gives tile-detect its resolutions, since manifest-mpp reads only the image id and mpp columns.
 * The project's own specs (manifest-mpp, tile-detect), run from the sources; synthetic slides, so no ../shared needed.
 * (test/stories/manifest-refused.test.ts runs every pipeline on a manifest merge-assign refuses.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSyntheticSlide } from '../../scripts/synthetic-slide.js';
import { type SlideError, TilesJsonSchema, type TilesJson } from '../../shared/contract/index.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';

const PIPELINES = ['manifest-mpp', 'tile-detect'];

describe("story: the manifest's mpp column gives a slide its resolution for physical tiles", () => {
  const tmp = tempDir('mpp-story');
  const home = join(tmp.dir, 'home');
  const manifest = join(tmp.dir, 'manifest.csv');
  const tessella = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'app', 'cli.ts'), ...args], {
      cwd: projectRoot,
      env: { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `tessella ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-4000)}`);
    return r.stdout;
  };
  const lines = (s: string) =>
    s
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const seen = new Set<string>();
  /** tile-detect's jobs since the last call: datums processed and skipped in all. */
  const tileDetectSince = () => {
    const counts = { jobs: 0, processed: 0, skipped: 0 };
    for (const j of lines(tessella('list', 'job', '-p', 'tile-detect', '-o', 'json'))) {
      if (seen.has(j.job.id)) continue;
      seen.add(j.job.id);
      assert.equal(j.state, 'success', `tile-detect@${j.job.id}: ${j.state} ${j.reason ?? ''}`);
      counts.jobs++;
      counts.processed += j.data_processed;
      counts.skipped += j.data_skipped;
    }
    return counts;
  };
  const files = (slide: string) => tessella('list', 'file', `tile-detect@master:/${slide}/`);
  const tilesJson = (slide: string): TilesJson =>
    TilesJsonSchema.parse(JSON.parse(tessella('get', 'file', `tile-detect@master:/${slide}/tiles.json`)));
  const commitManifest = (text: string) => {
    writeFileSync(manifest, text);
    tessella('put', 'file', 'manifest@master:/manifest.csv', '-f', manifest);
    tessella('run');
  };

  before(async () => {
    const specs = join(tmp.dir, 'pipelines');
    mkdirSync(specs);
    for (const p of PIPELINES) {
      let text = readFileSync(join(projectRoot, 'pipelines', `${p}.yaml`), 'utf8').replace(
        /\[\s*"?node"?\s*,\s*"?dist\/stages\/([\w-]+)\/main\.js"?\s*\]/,
        (_m, stage: string) => `["node", "--import", "tsx", "stages/${stage}/main.ts"]`,
      );
      // Tiles of 448 px at 0.5 um/px (224 um), so the slide's resolution, or the manifest's, is needed.
      if (p === 'tile-detect') text = text.replace(/TARGET_MPP: "0"/, 'TARGET_MPP: "0.5"');
      assert.match(text, /--import", "tsx"/, `pipelines/${p}.yaml: cmd not recognised`);
      writeFileSync(join(specs, `${p}.yaml`), text);
    }
    assert.match(readFileSync(join(specs, 'tile-detect.yaml'), 'utf8'), /TARGET_MPP: "0\.5"/);
    const slides = join(tmp.dir, 'slides');
    const opts = { width: 2048, height: 2048, tissueFraction: 0.5, seed: 3 };
    for (const [id, mpp] of [
      ['nompp', 0],
      ['scanned', 0.5],
    ] as const) {
      mkdirSync(join(slides, id), { recursive: true });
      await makeSyntheticSlide({ ...opts, path: join(slides, id, `${id}.tiff`), mpp });
    }
    tessella('init', '--pipelines', specs);
    tessella('put', 'file', 'slides@master:/', '-r', '-f', slides);
    commitManifest('image_id,patient_id,center_id,label\nnompp,p1,A,CE\nscanned,p2,B,LAA\n');
  });
  after(() => tmp.cleanup());

  test('without an mpp column: the slide without a resolution gets error.json, the other its tiles', () => {
    assert.deepEqual(tileDetectSince(), { jobs: 1, processed: 2, skipped: 0 });
    const error = JSON.parse(tessella('get', 'file', 'tile-detect@master:/nompp/error.json')) as SlideError;
    assert.match(error.what, /physical tiles need the slide's resolution/);
    assert.match(error.hint ?? '', /mpp column/);
    const own = tilesJson('scanned').physical!;
    assert.deepEqual([own.mpp, own.mpp_source, own.tile_px_level0, 'slide_mpp' in own], [0.5, 'slide', 448, false]);
  });

  test("a row's mpp re-runs only that slide, which now has tiles from the manifest's resolution", () => {
    // nompp gets 1 um/px (224 px tiles of 224 um); scanned keeps its own (empty); ghost is in no slides folder: no datum.
    commitManifest('image_id,patient_id,center_id,label,mpp\nnompp,p1,A,CE,1\nscanned,p2,B,LAA,\nghost,p3,A,CE,0.3\n');
    assert.deepEqual(tileDetectSince(), { jobs: 1, processed: 1, skipped: 1 });
    assert.doesNotMatch(files('nompp'), /error\.json/);
    const t = tilesJson('nompp');
    const p = t.physical!;
    assert.deepEqual(
      [p.mpp, p.mpp_source, p.slide_mpp, p.tile_px_level0, p.output_px],
      [1, 'manifest', null, 224, 448],
    );
    assert.ok(t.tiles.length > 0, 'tiles kept');
    assert.equal(t.source.mpp, null);
    assert.equal(tilesJson('scanned').physical!.mpp_source, 'slide');
    assert.throws(() => tessella('list', 'file', 'tile-detect@master:/ghost/'));
  });

  test('a change to another column (a label), or a row added for another slide, re-runs no tile-detect datum', () => {
    commitManifest(
      'image_id,patient_id,center_id,label,mpp\nnew,p4,B,LAA,\nnompp,p1,A,LAA,1.0\nscanned,p2,B,LAA,\nghost,p3,A,CE,0.3\n',
    );
    const c = tileDetectSince();
    assert.equal(c.processed, 0, `tile-detect datums run: ${JSON.stringify(c)}`);
  });

  test("the manifest's value wins over the slide's own, and tiles.json shows both", () => {
    commitManifest(
      'image_id,patient_id,center_id,label,mpp\nnompp,p1,A,LAA,1\nscanned,p2,B,LAA,0.25\nghost,p3,A,CE,0.3\n',
    );
    assert.deepEqual(tileDetectSince(), { jobs: 1, processed: 1, skipped: 1 });
    const p = tilesJson('scanned').physical!;
    assert.deepEqual([p.mpp, p.mpp_source, p.slide_mpp, p.tile_px_level0], [0.25, 'manifest', { x: 0.5, y: 0.5 }, 896]);
  });

  test('a manifest merge would refuse (a row without a patient id) still gives tile-detect its resolutions', () => {
    commitManifest(
      'image_id,patient_id,center_id,label,mpp\nnompp,,A,LAA,1\nscanned,p2,B,LAA,0.5\nghost,p3,A,CE,0.3\n',
    );
    for (const j of lines(tessella('list', 'job', '-p', 'manifest-mpp', '-o', 'json')))
      assert.equal(j.state, 'success', `manifest-mpp@${j.job.id}: ${j.reason}`);
    // scanned's value changed (0.25 -> 0.5): its datum re-runs; nompp's did not.
    assert.deepEqual(tileDetectSince(), { jobs: 1, processed: 1, skipped: 1 });
    const p = tilesJson('scanned').physical!;
    assert.deepEqual([p.mpp, p.mpp_source, p.tile_px_level0], [0.5, 'manifest', 448]);
  });
});
