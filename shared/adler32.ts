/**
 * zlib's Adler-32, the checksum that ends a zlib stream (a stored PNG's, png.ts). zlib's own `adler32` through koffi
 * takes ~0.03-0.05 ms for a 448 px tile's rows (with its SIMD sum, below) where the JavaScript sum takes ~0.5 ms, on
 * the stage's thread that also decodes and encodes every tile; the JavaScript sum stays for a system without libz.
 */
import { deflateSync } from 'node:zlib';
import type koffi from 'koffi';
import { loadFirstLibrary } from './native-lib.js';

const SONAMES = ['libz.so.1', 'libz.so', 'libz.1.dylib', 'zlib1.dll'];
/** zlib's largest prime below 2^16 */
const BASE = 65521;

type NativeAdler = (adler: number, data: Uint8Array, length: number) => number;
let native: NativeAdler | null | undefined;

function nativeAdler(): NativeAdler | null {
  if (native === undefined) {
    // Node's own zlib (Chromium's, its symbols the ones `adler32` binds to where Node bundles it) picks its SIMD
    // Adler-32 only once a stream has been set up in the process: 0.20 ms a 448 px tile's rows before, 0.027 after.
    // Elsewhere (a Node on the system's zlib) this costs a few microseconds once.
    deflateSync(Buffer.alloc(1));
    const { lib } = loadFirstLibrary(SONAMES);
    const fn: koffi.KoffiFunction | undefined = lib?.func(
      'unsigned long adler32(unsigned long adler, const uint8_t *buf, unsigned int len)',
    );
    native = fn ? (adler, data, length) => fn(adler, data, length) as number : null;
  }
  return native;
}

/** The Adler-32 of `data` continued from `adler` (1 for a new stream). */
export function adler32(data: Uint8Array, adler = 1): number {
  const fn = nativeAdler();
  return fn ? fn(adler, data, data.length) >>> 0 : adler32Js(data, adler);
}

/** The same sum in JavaScript. */
export function adler32Js(data: Uint8Array, adler = 1): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  // the sums stay exact in a double far past zlib's 5552-byte limit for 32 bits: reduce once a MiB
  const step = 1 << 20;
  for (let x = 0; x < data.length; ) {
    const stop = Math.min(data.length, x + step);
    for (; x < stop; x++) {
      a += data[x];
      b += a;
    }
    a %= BASE;
    b %= BASE;
  }
  return ((b << 16) | a) >>> 0;
}
