import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TFRecordWriter, readTFRecords, maskedCrc32c, TFRecordCorruptError } from '../../shared/tfrecord.js';

/** A bitwise CRC32C (Castagnoli, reflected 0x82F63B78), independent of @node-rs/crc32. */
function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
const maskReference = (crc: number) => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

test('CRC32C matches the published check value and the bitwise reference', () => {
  // The standard CRC-32C check value of "123456789".
  assert.equal(crc32cReference(Buffer.from('123456789')), 0xe3069283);
  const data = Buffer.from('tessella tile record');
  assert.equal(maskedCrc32c(data), maskReference(crc32cReference(data)));
});

async function writeAll(path: string, records: Buffer[], gzip = false) {
  const w = await TFRecordWriter.open(path, { gzip });
  for (const r of records) await w.write(r);
  await w.close();
}

/** Parse framing by hand, checking both masked CRCs with the reference implementation. */
function parseByHand(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const len = Number(bytes.readBigUInt64LE(pos));
    assert.equal(bytes.readUInt32LE(pos + 8), maskReference(crc32cReference(bytes.subarray(pos, pos + 8))));
    const data = bytes.subarray(pos + 12, pos + 12 + len);
    assert.equal(bytes.readUInt32LE(pos + 12 + len), maskReference(crc32cReference(data)));
    out.push(Buffer.from(data));
    pos += 16 + len;
  }
  return out;
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
    assert.deepEqual(parseByHand(readFileSync(plain)), records);
    assert.deepEqual(parseByHand(gunzipSync(readFileSync(gz))), records);
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
    await assert.rejects(async () => { for await (const _ of readTFRecords(path)); }, (e: Error) => e instanceof TFRecordCorruptError && /record 1 .*data CRC/.test(e.message));
    writeFileSync(path, bytes.subarray(0, bytes.length - 3));
    await assert.rejects(async () => { for await (const _ of readTFRecords(path)); }, /truncated/);
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
