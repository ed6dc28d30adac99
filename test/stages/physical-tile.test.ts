/**
 * The physical tile plan: from a slide's resolution to the tile's level-0 side, the tissue rule's view and the level
 * tile-extract reads. CMU-1's 0.499 um/px (20x) against a 40x version of the same tissue (half the pixel size).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/config.js';
import { physicalTileUm, readDetectConfig } from '../../stages/tile-detect/config.js';
import { NoResolutionError, planPhysicalTile } from '../../stages/tile-detect/physical-tile.js';

const req = { tileUm: 224, outputPx: 448, downsample: 16 };
const pyramid = (...d: number[]) => d.map((downsample) => ({ downsample }));

test('20x and 40x: the same um, twice the level-0 pixels, the same overview pixels per tile', () => {
  const x20 = planPhysicalTile(req, pyramid(1, 4, 16), { x: 0.499, y: 0.499 });
  assert.equal(x20.level0Px, 449);
  assert.equal(x20.readLevel, 0);
  assert.equal(x20.readPx, 449);
  assert.ok(Math.abs(x20.overviewDownsample - 16.0357) < 1e-3);
  const x40 = planPhysicalTile(req, pyramid(1, 4, 16), { x: 0.2495, y: 0.2495 });
  assert.equal(x40.level0Px, 898);
  // No level between 1 and 2.004: level 0 is read (898 px) and resized to 448.
  assert.deepEqual([x40.readLevel, x40.readPx], [0, 898]);
  assert.equal(x40.level0Px / x40.overviewDownsample, x20.level0Px / x20.overviewDownsample);
  // With a 2x level, that one is read (449 px), never a level coarser than the output.
  const x40b = planPhysicalTile(req, pyramid(1, 2.0003, 8), { x: 0.2495, y: 0.2495 });
  assert.deepEqual([x40b.readLevel, x40b.readPx], [1, 449]);
  assert.equal(x40b.mppSource, 'slide');
});

test("no resolution: a clear error; the manifest's wins; pixels must be square", () => {
  assert.throws(
    () => planPhysicalTile(req, pyramid(1), undefined),
    (e: Error) => e instanceof NoResolutionError && /224 um .* does not say its resolution/.test(e.message),
  );
  assert.throws(() => planPhysicalTile(req, pyramid(1), { x: 0.25, y: 0.5 }), /not square/);
  const o = planPhysicalTile(req, pyramid(1), undefined, 0.5);
  assert.deepEqual([o.mpp, o.mppSource, o.level0Px], [0.5, 'manifest', 448]);
  // over the slide's own, even a non-square one
  const m = planPhysicalTile(req, pyramid(1), { x: 0.25, y: 0.5 }, 0.25);
  assert.deepEqual([m.mpp, m.mppSource, m.level0Px], [0.25, 'manifest', 896]);
});

test('TILE_UM / TARGET_MPP: off by default, one or the other', () => {
  assert.equal(physicalTileUm(readDetectConfig({})), undefined);
  assert.equal(physicalTileUm(readDetectConfig({ TILE_UM: '256' })), 256);
  assert.equal(physicalTileUm(readDetectConfig({ TARGET_MPP: '0.5' })), 224);
  assert.equal(physicalTileUm(readDetectConfig({ TARGET_MPP: '0.5', TILE_SIZE: '224' })), 112);
  assert.throws(() => readDetectConfig({ TILE_UM: '256', TARGET_MPP: '0.5' }), ConfigError);
  assert.throws(() => readDetectConfig({ TILE_UM: '-1' }), /TILE_UM/);
});
