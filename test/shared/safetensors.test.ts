import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, writeSafetensors } from '../../shared/safetensors.js';

test('safetensors round-trip with metadata and an 8-byte aligned header', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const path = join(dir, 'e.safetensors');
    const avg = new Float32Array([1, 2, 3, 4, 5, 6]);
    const loc = new Int32Array([10, 20, 30, 40, 50, 60]);
    const sum = new Float64Array([0.25, 0.75]);
    writeSafetensors(
      path,
      {
        avg: { dtype: 'F32', shape: [2, 3], data: avg },
        loc: { dtype: 'I32', shape: [3, 2], data: loc },
        sum: { dtype: 'F64', shape: [2], data: sum },
      },
      { model_sha256: 'abc' },
    );
    const bytes = readFileSync(path);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLen % 8, 0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString());
    assert.deepEqual(header.avg, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    const { tensors, metadata } = readSafetensors(path);
    assert.deepEqual(metadata, { model_sha256: 'abc' });
    assert.deepEqual(tensors.avg.data, avg);
    assert.deepEqual(tensors.loc.data, loc);
    assert.deepEqual(tensors.sum.data, sum);
    assert.throws(
      () => writeSafetensors(path, { x: { dtype: 'F32', shape: [4], data: avg } }),
      /shape \[4\] holds 4 values but data has 6/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
