/**
 * Tiles of a physical size on real slides, end to end through tile-detect and tile-extract: CMU-1's small region
 * (0.499 um/px, 20x) and a 40x version of the same tissue (upsampled 2x, written with 0.2495 um/px in its TIFF
 * resolution tags) give the same grid in micrometres and tiles that agree after resizing; a slide without a
 * resolution gets error.json, or tiles at the manifest's resolution (manifest-mpp's /mpp/<slide>.json) when it gives
 * one; TILE_UM=0 is the default path, byte for byte, with or without the manifest's resolution.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { decodeRgb } from '../../shared/image.js';
import { readSlideError } from '../../shared/slide-error.js';
import { openSlide } from '../../shared/slide/index.js';
import { readTilesJson, type TilesJson } from '../../shared/contract/index.js';
import { readTileRecords } from '../../shared/tile-record.js';
import { tempDir } from '../helpers/dirs.js';
import { fixture, mountSlide, needsFixtures, runStage } from '../slide/helpers.js';

const CMU = 'cmu-1-small-region.svs';
// Tiles of 111.776 um (224 px at CMU-1's 0.499 um/px, 448 px at 0.2495: both whole, so the two grids coincide pixel for
// pixel; a side that rounds differently shifts later tiles by a fraction of a pixel each, see planPhysicalTile)
// stored at 224 px; a looser tissue rule, so the small region keeps enough tiles to compare.
const env = { TILE_UM: '111.776', TILE_SIZE: '224', MAX_BACKGROUND_FRACTION: '0.5' };

describe('physical tiles (TILE_UM)', needsFixtures, () => {
  const tmp = tempDir('physical-tiles-');
  const x40 = join(tmp.dir, 'cmu1-40x.tiff');
  const out: Record<string, TilesJson> = {};
  const root = (name: string) => join(tmp.dir, name);

  async function detectAndExtract(name: string, file: string, extra: Record<string, string>): Promise<void> {
    const pfs = root(name);
    const slides = mountSlide(pfs, name, file);
    const d = await runStage('tile-detect', { PFS_ROOT: pfs, slides, ...extra });
    assert.equal(d.status, 0, d.stderr);
    if (!existsSync(join(pfs, 'out', name, 'tiles.json'))) return;
    out[name] = readTilesJson(join(pfs, 'out', name, 'tiles.json'));
    const e = await runStage('tile-extract', { PFS_ROOT: join(pfs, 'x'), slides, tile_detect: join(pfs, 'out', name) });
    assert.equal(e.status, 0, e.stderr);
  }

  before(async () => {
    // The 40x version: CMU-1's region read whole (2220 x 2967), upsampled 2x, a tiled JPEG pyramid with its mpp.
    const s = await openSlide(fixture(CMU));
    const { width, height } = s.levels[0];
    const rgb = await s.readRegion(0, 0, 0, width, height);
    await s.close();
    await sharp(rgb, { raw: { width, height, channels: 3 } })
      .resize(width * 2, height * 2, { kernel: 'lanczos3' })
      .tiff({
        compression: 'jpeg',
        quality: 92,
        tile: true,
        tileWidth: 256,
        tileHeight: 256,
        pyramid: true,
        xres: 1000 / 0.2495,
        yres: 1000 / 0.2495,
        resolutionUnit: 'cm',
      })
      .toFile(x40);
    await detectAndExtract('x20', fixture(CMU), env);
    await detectAndExtract('x40', x40, env);
  });
  after(() => tmp.cleanup());

  test('tiles.json records the mpp used, the tile in um and level-0 px, the level read', () => {
    const p20 = out.x20.physical!;
    const p40 = out.x40.physical!;
    assert.deepEqual(
      [p20.mpp, p20.mpp_source, p20.tile_um, p20.tile_px_level0, p20.output_px, p20.read_level, p20.read_px],
      [0.499, 'slide', 111.776, 224, 224, 0, 224],
    );
    assert.ok(Math.abs(p40.mpp - 0.2495) < 1e-4, `40x mpp ${p40.mpp}`);
    assert.equal(p40.tile_px_level0, 448);
    // The 40x pyramid has a ~2x level: that one is read (the coarsest with the output's resolution), ~224 px of it.
    assert.equal(p40.read_level, 1);
    assert.equal(p40.read_px, 224);
  });

  test('the same grid in micrometres, the same tissue kept (tolerance: 5% of the tiles may flip at the threshold)', () => {
    const a = out.x20;
    const b = out.x40;
    assert.deepEqual(b.grid, a.grid);
    const um = (t: TilesJson, tile: TilesJson['tiles'][number]) => [tile.x * t.physical!.mpp, tile.y * t.physical!.mpp];
    const keys = (t: TilesJson) => new Set(t.tiles.map((x) => `${x.col},${x.row}`));
    const ka = keys(a);
    const kb = keys(b);
    const both = [...ka].filter((k) => kb.has(k));
    const flipped = ka.size + kb.size - 2 * both.length;
    assert.ok(a.tiles.length > 10, `${a.tiles.length} kept tiles at 20x`);
    assert.ok(flipped <= Math.ceil(0.05 * a.counts.grid), `${flipped} of ${a.counts.grid} tiles decided differently`);
    // A tile of the same col,row lies at the same place in um (within 0.01 um) and keeps loc as level-0 px.
    const byKey = new Map(b.tiles.map((t) => [`${t.col},${t.row}`, t]));
    for (const t of a.tiles) {
      const u = byKey.get(`${t.col},${t.row}`);
      if (!u) continue;
      const [ax, ay] = um(a, t);
      const [bx, by] = um(b, u);
      assert.ok(
        Math.abs(ax - bx) <= 0.01 && Math.abs(ay - by) <= 0.01,
        `tile ${t.col},${t.row}: ${ax},${ay} um vs ${bx},${by} um`,
      );
    }
  });

  test('tiles agree after resizing: 224 px each, mean absolute difference under 12 of 255 per channel', async () => {
    const read = async (name: string) => {
      const m = new Map<string, { rgb: Buffer; locX: number; locY: number }>();
      for await (const r of readTileRecords(join(root(name), 'x', 'out', name, 'tiles.tfrecord'))) {
        const img = await decodeRgb(r.image);
        assert.deepEqual([img.width, img.height], [224, 224]);
        m.set(`${r.locX},${r.locY}`, { rgb: img.data, locX: r.locX, locY: r.locY });
      }
      return m;
    };
    const a = await read('x20');
    const b = await read('x40');
    // loc_x/loc_y are level-0 centres (origin + half the level-0 side): 112 px at 20x, 224 at 40x.
    let compared = 0;
    let worst = 0;
    for (const t of out.x20.tiles) {
      const u = out.x40.tiles.find((v) => v.col === t.col && v.row === t.row);
      if (!u) continue;
      const ta = a.get(`${t.x + 112},${t.y + 112}`);
      const tb = b.get(`${u.x + 224},${u.y + 224}`);
      assert.ok(ta && tb, `tile ${t.col},${t.row} in both records at its level-0 centre`);
      let sum = 0;
      for (let i = 0; i < ta.rgb.length; i++) sum += Math.abs(ta.rgb[i] - tb.rgb[i]);
      worst = Math.max(worst, sum / ta.rgb.length);
      compared++;
    }
    assert.ok(compared > 10);
    console.log(`tiles compared ${compared}, worst mean |difference| ${worst.toFixed(2)}`);
    assert.ok(worst < 12, `worst tile mean |difference| ${worst.toFixed(2)}`);
  });

  test('a slide without a resolution gets error.json saying so', async () => {
    await detectAndExtract('boxes', fixture('boxes.tiff'), env);
    const e = readSlideError(join(root('boxes'), 'out', 'boxes'));
    assert.ok(e, 'error.json written');
    assert.equal(e.stage, 'tile-detect');
    assert.match(e.what, /physical tiles need the slide's resolution/);
    assert.match(e.why, /111.776 um .* does not say its resolution/);
  });

  test('a slide without a resolution, given one by the manifest: tiles, and tiles.json says where the mpp came from', async () => {
    const override = join(tmp.dir, 'boxes-mpp.json');
    writeFileSync(override, `{"mpp":0.5,"source":"manifest.csv, column 'mpp'"}\n`);
    await detectAndExtract('boxes-m', fixture('boxes.tiff'), { TILE_UM: '32', TILE_SIZE: '64', mpp: override });
    const p = out['boxes-m'].physical!;
    assert.deepEqual([p.mpp, p.mpp_source, p.slide_mpp, p.tile_px_level0], [0.5, 'manifest', null, 64]);
    assert.ok(!existsSync(join(root('boxes-m'), 'out', 'boxes-m', 'error.json')));
  });

  test("physical tiles off: the manifest's resolution is not read, every output byte as main wrote it", async () => {
    const override = join(tmp.dir, 'cmu-mpp.json');
    writeFileSync(override, `{"mpp":0.25,"source":"manifest.csv, column 'mpp'"}\n`);
    const hashes = async (name: string, extra: Record<string, string>) => {
      const pfs = root(name);
      const d = await runStage('tile-detect', {
        PFS_ROOT: pfs,
        slides: mountSlide(pfs, 'cmu', fixture(CMU)),
        ...extra,
      });
      assert.equal(d.status, 0, d.stderr);
      const dir = join(pfs, 'out', 'cmu');
      const sha = (f: string) =>
        createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex');
      return Object.fromEntries(
        ['tiles.json', ...readdirSync(join(dir, 'qc')).map((f) => `qc/${f}`)].sort().map((f) => [f, sha(f)]),
      );
    };
    const plain = await hashes('plain', {});
    assert.deepEqual(await hashes('with-mpp', { mpp: override }), plain);
    // As tile-detect wrote them before the manifest could give a resolution (commit c1254d2, slide id 'cmu'); the
    // JPEGs are compared between the runs only, their bytes follow the libjpeg / libvips build.
    assert.equal(plain['tiles.json'], '3b3b92b87cb39d38869efcfb7c50f738e975519e24c3b9924ba351e231189b11');
    assert.equal(plain['qc/tiles.geojson'], 'f1d03da9f32fd1145b343bd389df3154bad19bdcf7c978482c23b3eb74b6c3ba');
  });

  test('TILE_UM=0 is the default path: tiles.json byte for byte, no physical block', async () => {
    await detectAndExtract('d0', fixture(CMU), {});
    await detectAndExtract('d1', fixture(CMU), { TILE_UM: '0', TARGET_MPP: '0' });
    const f = (n: string) => readFileSync(join(root(n), 'out', n, 'tiles.json'), 'utf8').replace(`"slide": "${n}"`, '');
    assert.equal(f('d1'), f('d0'));
    assert.equal(out.d0.physical, undefined);
    assert.equal(out.d0.params.tile_size, 448);
    assert.ok(out.d0.tiles.every((t) => t.x === t.col * 448 && t.y === t.row * 448));
  });
});
