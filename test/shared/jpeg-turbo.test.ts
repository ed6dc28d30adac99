import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { bgrxJpegEncoder, decodeRgb, encodeRgb } from '../../shared/image.js';
import { turboJpeg } from '../../shared/jpeg-turbo.js';
import { cmuTiles, cmuTilesMissing } from '../helpers/cmu-tiles.js';

const S = 448;
const raw = { raw: { width: S, height: S, channels: 3 as const } };

describe('JPEG through TurboJPEG: the pixels and bytes libvips gives', () => {
  const tiles: Buffer[] = [];
  // only the library check runs without ../shared: the others compare codecs on CMU-1's tissue
  const cmu = { skip: cmuTilesMissing };
  before(async () => {
    if (cmuTilesMissing) return;
    tiles.push(
      ...(await cmuTiles([
        [0, 0],
        [900, 600],
        [1200, 1800],
      ])),
    );
  });

  it('is installed (scripts/setup installs libturbojpeg0)', () => {
    assert.ok(turboJpeg(), 'libturbojpeg.so.0 did not load: JPEG tiles fall back to sharp, at twice the CPU');
  });

  it('decodes to the pixels sharp decodes: 4:4:4 and 4:2:0, q75 and q95, baseline and progressive', cmu, async () => {
    for (const tile of tiles) {
      for (const chromaSubsampling of ['4:4:4', '4:2:0']) {
        for (const quality of [75, 95]) {
          for (const progressive of [false, true]) {
            const jpeg = await sharp(tile, raw).jpeg({ quality, chromaSubsampling, progressive }).toBuffer();
            const want = await sharp(jpeg).raw().toBuffer();
            const got = await turboJpeg()!.decodeRgb(jpeg);
            assert.ok(got, 'a YCbCr JPEG is decoded');
            assert.deepEqual([got.width, got.height], [S, S]);
            assert.ok(got.data.equals(want), `${chromaSubsampling} q${quality} progressive ${progressive}`);
          }
        }
      }
    }
  });

  it('encodes the very bytes sharp writes with the same settings, so tiles stay byte-identical', cmu, async () => {
    for (const tile of tiles) {
      for (const chroma of ['4:4:4', '4:2:0'] as const) {
        for (const quality of [80, 95]) {
          const want = await sharp(tile, raw)
            .jpeg({ quality, chromaSubsampling: chroma, optimiseCoding: false })
            .toBuffer();
          const got = await turboJpeg()!.encodeRgb({ data: tile, width: S, height: S }, quality, chroma);
          assert.ok(got.equals(want), `${chroma} q${quality}: ${got.length} bytes against ${want.length}`);
          assert.ok((await encodeRgb({ data: tile, width: S, height: S }, 'jpeg', { quality, chroma })).equals(want));
        }
      }
    }
  });

  it('encodes BGRX pixels (OpenSlide opaque ARGB words) to the bytes of their RGB', cmu, async () => {
    for (const tile of tiles) {
      const bgrx = Buffer.alloc(S * S * 4);
      for (let p = 0; p < S * S; p++) {
        bgrx[p * 4] = tile[p * 3 + 2];
        bgrx[p * 4 + 1] = tile[p * 3 + 1];
        bgrx[p * 4 + 2] = tile[p * 3];
        bgrx[p * 4 + 3] = p % 7; // ignored
      }
      for (const chroma of ['4:4:4', '4:2:0'] as const) {
        const want = await encodeRgb({ data: tile, width: S, height: S }, 'jpeg', { quality: 95, chroma });
        const got = await bgrxJpegEncoder()!({ data: bgrx, width: S, height: S }, { quality: 95, chroma });
        assert.ok(got.equals(want), `${chroma}: ${got.length} bytes against ${want.length}`);
      }
    }
    await assert.rejects(
      turboJpeg()!.encode({ data: tiles[0], width: S, height: S, layout: 'bgrx' }, 95, '4:4:4'),
      /bytes hold no 448x448 bgrx image/,
    );
  });

  it('leaves grey and CMYK JPEGs to sharp, which turns them into RGB', cmu, async () => {
    const grey = await sharp(tiles[0], raw).toColourspace('b-w').jpeg().toBuffer();
    const cmyk = await sharp(tiles[0], raw).toColourspace('cmyk').jpeg().toBuffer();
    for (const jpeg of [grey, cmyk]) {
      assert.equal(await turboJpeg()!.decodeRgb(jpeg), undefined);
      const img = await decodeRgb(jpeg);
      assert.equal(img.data.length, S * S * 3);
    }
    const g = await decodeRgb(grey);
    assert.ok(g.data[0] === g.data[1] && g.data[1] === g.data[2], 'grey decodes to R = G = B');
  });

  it(
    "rejects a damaged JPEG with TurboJPEG's reason, and decodes the next ones as before, also many at once",
    cmu,
    async () => {
      const jpeg = await sharp(tiles[1], raw).jpeg({ quality: 95 }).toBuffer();
      await assert.rejects(turboJpeg()!.decodeRgb(jpeg.subarray(0, 300)), /JPEG (header|data): .+/);
      await assert.rejects(turboJpeg()!.decodeRgb(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), /JPEG header/);
      const want = await sharp(jpeg).raw().toBuffer();
      const all = await Promise.all(Array.from({ length: 16 }, () => turboJpeg()!.decodeRgb(jpeg)));
      for (const img of all) assert.ok(img!.data.equals(want));
    },
  );
});
