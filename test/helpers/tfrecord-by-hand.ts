/**
 * An independent TFRecord reader for tests: a bitwise CRC32C (Castagnoli, reflected 0x82F63B78, not
 * @node-rs/crc32) and TensorFlow's mask, so framing is checked by code that shares nothing with shared/tfrecord.ts.
 */
import assert from 'node:assert/strict';

export function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export const maskCrc = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

/** Records of an uncompressed TFRecord stream, asserting both masked CRCs of each. */
export function framedRecords(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const len = Number(bytes.readBigUInt64LE(pos));
    assert.equal(
      bytes.readUInt32LE(pos + 8),
      maskCrc(crc32cBitwise(bytes.subarray(pos, pos + 8))),
      `length CRC at byte ${pos}`,
    );
    const data = bytes.subarray(pos + 12, pos + 12 + len);
    assert.equal(bytes.readUInt32LE(pos + 12 + len), maskCrc(crc32cBitwise(data)), `data CRC at byte ${pos}`);
    out.push(Buffer.from(data));
    pos += 16 + len;
  }
  return out;
}
