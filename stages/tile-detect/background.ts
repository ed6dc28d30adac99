/**
 * The background rule for one pixel, `isBackground`, is the reference; the counts below are the fast paths
 * GridMeasurer runs on every overview pixel, and test/stages/tile-detect.test.ts checks them against it on real
 * slides and at the thresholds.
 */
import { endianness } from 'node:os';

/** Background: R, G and B all above the threshold. */
export function isBackground(r: number, g: number, b: number, threshold: number): boolean {
  return r > threshold && g > threshold && b > threshold;
}

export const LITTLE_ENDIAN = endianness() === 'LE';

/** Background pixels among pixels [i0, i1) of RGB `data`. */
export function countBackground(data: Buffer, i0: number, i1: number, th: number): number {
  let bg = 0;
  // Branch-free: th - v is negative exactly when v > th, so the sign bit of the AND is "all three above".
  for (let p = i0 * 3, end = i1 * 3; p < end; p += 3)
    bg += ((th - data[p]) & (th - data[p + 1]) & (th - data[p + 2])) >>> 31;
  return bg;
}

/**
 * countBackground four pixels (three little-endian words) at a time: each byte plus (255 - th) carries into bit 8
 * of its 16-bit lane exactly when it is above th, so one add tests two bytes. This runs on every overview pixel.
 */
export function countBackgroundWords(data: Buffer, words: Uint32Array, i0: number, i1: number, th: number): number {
  let i = i0;
  let bg = 0;
  const head = Math.min(i1, (i0 + 3) & ~3);
  if (head > i) {
    bg += countBackground(data, i, head, th);
    i = head;
  }
  const c = (255 - th) * 0x00010001;
  const end4 = i1 - ((i1 - i) & 3);
  for (let q = (i >> 2) * 3; i < end4; i += 4, q += 3) {
    // Words: r0 g0 b0 r1 | g1 b1 r2 g2 | b2 r3 g3 b3 (lowest byte first); even bytes in *0, odd bytes in *1.
    const a = words[q];
    const b = words[q + 1];
    const e = words[q + 2];
    const a0 = (a & 0xff00ff) + c;
    const a1 = ((a >>> 8) & 0xff00ff) + c;
    const b0 = (b & 0xff00ff) + c;
    const b1 = ((b >>> 8) & 0xff00ff) + c;
    const e0 = (e & 0xff00ff) + c;
    const e1 = ((e >>> 8) & 0xff00ff) + c;
    const p0 = a0 & a1 & (a0 >>> 16);
    const p1 = (a1 >>> 16) & b0 & b1;
    const p2 = (b0 >>> 16) & (b1 >>> 16) & e0;
    const p3 = e1 & (e0 >>> 16) & (e1 >>> 16);
    bg += ((p0 >>> 8) & 1) + ((p1 >>> 8) & 1) + ((p2 >>> 8) & 1) + ((p3 >>> 8) & 1);
  }
  if (i < i1) bg += countBackground(data, i, i1, th);
  return bg;
}
