/**
 * imageSize reads a tile's width and height from its header (embed learns the tile side from the first tile
 * without loading libvips): the same as libvips' metadata for every kind of tile the stages write or may meet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { imageSize } from '../../shared/image.js';
import { encodePng } from '../../shared/png.js';

function texture(w: number, h: number): Buffer {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
  return data;
}

test('imageSize equals libvips for PNG and JPEG (baseline, progressive, 4:2:0, grey, EXIF) tiles', async () => {
  const w = 301;
  const h = 157;
  const raw = { raw: { width: w, height: h, channels: 3 as const } };
  const images: [string, Buffer][] = [
    ['stored PNG', encodePng({ data: texture(w, h), width: w, height: h }, 0)],
    ['libvips PNG', await sharp(texture(w, h), raw).png({ compressionLevel: 6 }).toBuffer()],
    ['JPEG 4:4:4', await sharp(texture(w, h), raw).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['JPEG 4:2:0 progressive', await sharp(texture(w, h), raw).jpeg({ quality: 75, progressive: true }).toBuffer()],
    ['JPEG grey', await sharp(texture(w, h), raw).greyscale().jpeg().toBuffer()],
    ['JPEG with EXIF', await sharp(texture(w, h), raw).withMetadata({ orientation: 1 }).jpeg().toBuffer()],
  ];
  for (const [name, buf] of images) {
    const m = await sharp(buf).metadata();
    assert.deepEqual(imageSize(buf), { width: m.width, height: m.height }, name);
  }
});

test('imageSize is undefined for other bytes and for headers cut short', async () => {
  const jpeg = await sharp(texture(64, 32), { raw: { width: 64, height: 32, channels: 3 } })
    .jpeg()
    .toBuffer();
  assert.equal(imageSize(Buffer.from('GIF89a')), undefined);
  assert.equal(imageSize(jpeg.subarray(0, 10)), undefined);
  assert.equal(imageSize(encodePng({ data: texture(4, 4), width: 4, height: 4 }, 0).subarray(0, 20)), undefined);
});
