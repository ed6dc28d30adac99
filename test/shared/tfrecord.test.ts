import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
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

/** Every record of a file, or the error that stopped the stream with the records read before it. */
async function readAll(path: string, options = {}): Promise<{ records: Buffer[]; error?: Error }> {
  const records: Buffer[] = [];
  try {
    for await (const r of readTFRecords(path, options)) records.push(r);
  } catch (error) {
    return { records, error: error as Error };
  }
  return { records };
}

test('damage past the first record: the records before it come first, then an error with its index and offset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const records = [Buffer.from('first'), Buffer.alloc(70_000, 3), Buffer.from('third')];
    const path = join(dir, 'x.tfrecord');
    await writeAll(path, records);
    const bytes = readFileSync(path);
    const third = 16 + 5 + 16 + 70_000;
    const cases: [string, Buffer, string][] = [
      [
        'a partial header after the last record',
        Buffer.concat([bytes, Buffer.from([1, 2, 3])]),
        `record 3 at byte ${bytes.length}: truncated: 3 trailing bytes`,
      ],
      [
        'a record cut inside its data',
        bytes.subarray(0, third + 12 + 2),
        `record 2 at byte ${third}: truncated: 14 trailing bytes`,
      ],
      [
        'a record cut inside its data CRC',
        bytes.subarray(0, bytes.length - 1),
        `record 2 at byte ${third}: truncated: 20 trailing bytes`,
      ],
      [
        'a damaged length',
        Buffer.from(bytes).fill(0xff, third, third + 8),
        `record 2 at byte ${third}: length CRC mismatch`,
      ],
    ];
    for (const [name, damaged, why] of cases) {
      for (const gzip of [false, true]) {
        const file = join(dir, gzip ? 'damaged.tfrecord.gz' : 'damaged.tfrecord');
        writeFileSync(file, gzip ? gzipSync(damaged) : damaged);
        const { records: got, error } = await readAll(file, { gzip });
        assert.ok(error instanceof TFRecordCorruptError, `${name} (gzip ${gzip}): ${error}`);
        assert.equal(error.message, `${file}: ${why}`, name);
        assert.deepEqual(got, records.slice(0, name.includes('after the last') ? 3 : 2), name);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unverified length past the end of the file is a truncation, not a huge buffer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const path = join(dir, 'x.tfrecord');
    await writeAll(path, [Buffer.from('only')]);
    const bytes = readFileSync(path);
    bytes.writeBigUInt64LE(2n ** 60n, 0);
    writeFileSync(path, bytes);
    const { error } = await readAll(path, { verify: false });
    assert.equal(error?.message, `${path}: record 0 at byte 0: truncated: ${bytes.length} trailing bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records stay valid after the stream moves on, and a reader stopped early closes cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const records = Array.from({ length: 20 }, (_, i) => Buffer.alloc(10_000 + i, i));
    const path = join(dir, 'x.tfrecord');
    await writeAll(path, records);
    const kept: Buffer[] = [];
    for await (const r of readTFRecords(path)) {
      kept.push(r);
      if (kept.length === 5) break;
    }
    assert.deepEqual(kept, records.slice(0, 5));
    // every record is its own memory: none is overwritten by a later one
    const all = (await readAll(path)).records;
    assert.deepEqual(all, records);
    assert.equal(new Set(all.map((r) => r.buffer)).size, all.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reuseBuffers: the same records, read into two buffers in turn (grown for a larger record)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const sizes = [50_000, 10, 80_000, 80_000, 0, 120_000, 7, 60_000];
    const records = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    const path = join(dir, 'x.tfrecord');
    await writeAll(path, records);
    for (const gzip of [false, true]) {
      const file = gzip ? join(dir, 'x.tfrecord.gz') : path;
      if (gzip) await writeAll(file, records, true);
      const copies: Buffer[] = [];
      const memory = new Set<ArrayBufferLike>();
      for await (const r of readTFRecords(file, { reuseBuffers: true })) {
        copies.push(Buffer.from(r)); // valid until the next record is asked for
        memory.add(r.buffer);
      }
      assert.deepEqual(copies, records, `gzip ${gzip}`);
      assert.ok(memory.size < records.length, `${memory.size} buffers for ${records.length} records (gzip ${gzip})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reuseBuffers: n: the last n records stay valid while the next ones are read, in n + 1 buffers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    // the largest first: a smaller record reuses a buffer, a larger one would grow it
    const records = Array.from({ length: 23 }, (_, i) =>
      Buffer.alloc(i < 9 ? 70_000 : 30_000 + (i % 5) * 9_000, i + 1),
    );
    const path = join(dir, 'x.tfrecord');
    await writeAll(path, records);
    for (const held of [1, 3, 8]) {
      const window: Buffer[] = [];
      const memory = new Set<ArrayBufferLike>();
      let index = 0;
      for await (const r of readTFRecords(path, { reuseBuffers: held })) {
        window.push(r);
        if (window.length > held) window.shift();
        // every record still held reads as written, though later ones were read meanwhile
        window.forEach((w, j) => assert.deepEqual(w, records[index - window.length + 1 + j], `held ${held}`));
        memory.add(r.buffer);
        index++;
      }
      assert.equal(index, records.length);
      assert.ok(memory.size <= held + 1, `${memory.size} buffers with ${held} held`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record written as pieces is the record of their bytes; `written` comes once the file has them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfrecord-'));
  try {
    const pieces = [Buffer.from('head'), Buffer.alloc(300_000, 7), Buffer.alloc(0), Buffer.from('tail')];
    for (const gzip of [false, true]) {
      const path = join(dir, gzip ? 'p.tfrecord.gz' : 'p.tfrecord');
      const w = await TFRecordWriter.open(path, { gzip });
      let written = 0;
      for (let i = 0; i < 3; i++) await w.writePieces(pieces, () => written++);
      await w.write(Buffer.from('whole'));
      await w.close();
      assert.equal(written, 3);
      const raw = gzip ? gunzipSync(readFileSync(path)) : readFileSync(path);
      const one = Buffer.concat(pieces);
      // both CRCs checked by the by-hand reader
      assert.deepEqual(framedRecords(raw), [one, one, one, Buffer.from('whole')], `gzip ${gzip}`);
      const back: Buffer[] = [];
      for await (const r of readTFRecords(path)) back.push(Buffer.from(r));
      assert.deepEqual(back, [one, one, one, Buffer.from('whole')]);
    }
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
