import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { crc32cBitwise, framedRecords, maskCrc } from '../helpers/tfrecord-by-hand.js';
import { TFRecordWriter, readTFRecords, maskedCrc32c, TFRecordCorruptError } from '../../shared/tfrecord.js';

test('CRC32C matches the published check value and the bitwise reference', () => {
  // The standard CRC-32C check value of "123456789".
  assert.equal(crc32cBitwise(Buffer.from('123456789')), 0xe3069283);
  const data = Buffer.from('tessella tile record');
  assert.equal(maskedCrc32c(data), maskCrc(crc32cBitwise(data)));
});

async function writeAll(path: string, records: Buffer[], gzip = false) {
  const w = await TFRecordWriter.open(path, { gzip });
  for (const r of records) await w.write(r);
  await w.close();
}

test('records round-trip, plain and GZIP, and the framing is what TensorFlow reads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const records = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(3_000_000, 7), Buffer.from('last')];
    const plain = join(dir, 'plain.tfrecord');
    const gz = join(dir, 'gz.tfrecord');
    await writeAll(plain, records);
    await writeAll(gz, records, true);
    assert.deepEqual(readdirSync(dir).sort(), ['gz.tfrecord', 'plain.tfrecord'], 'no temp files left');
    assert.deepEqual(framedRecords(readFileSync(plain)), records);
    assert.deepEqual(framedRecords(gunzipSync(readFileSync(gz))), records);
    for (const path of [plain, gz]) {
      const got: Buffer[] = [];
      for await (const r of readTFRecords(path)) got.push(r);
      assert.deepEqual(got, records);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupted or truncated file is reported with the record index', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const path = join(dir, 'x.tfrecord');
    await writeAll(path, [Buffer.from('first'), Buffer.from('second')]);
    const bytes = readFileSync(path);
    const flipped = Buffer.from(bytes);
    flipped[16 + 5 + 12 + 1] ^= 0xff; // a byte inside record 1's data
    writeFileSync(path, flipped);
    await assert.rejects(
      async () => {
        for await (const _ of readTFRecords(path));
      },
      (e: Error) => e instanceof TFRecordCorruptError && /record 1 .*data CRC/.test(e.message),
    );
    writeFileSync(path, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(async () => {
      for await (const _ of readTFRecords(path));
    }, /truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an aborted writer leaves nothing behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const w = await TFRecordWriter.open(join(dir, 'x.tfrecord'));
    await w.write(Buffer.from('partial'));
    await w.abort();
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
