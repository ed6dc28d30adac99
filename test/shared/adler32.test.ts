import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { adler32, adler32Js } from '../../shared/adler32.js';

/** The Adler-32 zlib itself writes at the end of a stream of `data`. */
function zlibAdler(data: Uint8Array): number {
  const stream = deflateSync(data, { level: 0 });
  return stream.readUInt32BE(stream.length - 4);
}

describe('Adler-32', () => {
  it('is what zlib writes, through libz and in JavaScript, whole or continued, at any length', () => {
    let s = 7;
    const data = Buffer.from(Array.from({ length: 3 << 20 }, () => (s = (s * 1103515245 + 12345) >>> 0) >>> 24));
    // all 0xff makes the sums largest: the reductions are tested at their limit
    const ff = Buffer.alloc(3 << 20, 0xff);
    for (const d of [data, ff])
      for (const n of [0, 1, 5551, 5552, 5553, 65536, (1 << 20) + 3, d.length]) {
        const part = d.subarray(0, n);
        const want = zlibAdler(part);
        assert.equal(adler32(part), want, `libz, ${n} bytes`);
        assert.equal(adler32Js(part), want, `JavaScript, ${n} bytes`);
        const cut = Math.floor(n / 3);
        assert.equal(adler32(part.subarray(cut), adler32(part.subarray(0, cut))), want, `continued, ${n} bytes`);
        assert.equal(adler32Js(part.subarray(cut), adler32Js(part.subarray(0, cut))), want);
      }
  });
});
