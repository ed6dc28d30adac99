/**
 * The colour table's batch look-up shared by two threads (chunked-lookup.ts), driven from one thread so that every
 * interleaving the two threads can meet is reached on purpose: chunks claimed by both, a colour met by both at once,
 * and a colour a later batch asked before an earlier batch was filled.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CHUNK_PIXELS, ChunkedLookUp } from '../../shared/onnx/chunked-lookup.js';
import { ColourTable } from '../../shared/onnx/colour-table.js';
import { channelAnswer, noise } from './helpers.js';

/** The "model": a colour's answer, a function of the colour alone. */
const answer = channelAnswer;

function batchOf(pixels: Uint8Array): { batch: ChunkedLookUp; out: Uint8Array } {
  const batch = new ChunkedLookUp(new SharedArrayBuffer(ChunkedLookUp.bufferBytes(pixels.length)), pixels.length);
  batch.reset();
  return { batch, out: new Uint8Array(pixels.length) };
}

/** What the worker does once every chunk is looked up: run the asked colours, learn them; returns the colours run. */
function runAsks(table: ColourTable, batch: ChunkedLookUp): number {
  const asks = new Uint8Array(batch.bytes);
  const bytes = batch.gatherAsks(asks);
  table.learn(asks, asks.map(answer), bytes);
  return bytes / 3;
}

describe('a batch looked up by two threads in chunks', () => {
  it('gives every pixel its answer and asks each colour once, however the chunks are shared out', () => {
    // 3.5 chunks of noise, each half repeated: every colour met twice, in different chunks
    const half = noise(Math.floor(1.75 * CHUNK_PIXELS), 1);
    const pixels = new Uint8Array(2 * half.length);
    pixels.set(half);
    pixels.set(half, half.length);
    const table = new ColourTable();
    const { batch, out } = batchOf(pixels);
    assert.equal(batch.chunks, 4);
    // "the stage's thread" takes one chunk and stops; "the worker" claims the rest
    let taken = 0;
    assert.equal(
      batch.lookUp(table, pixels, out, () => taken++ === 1),
      1,
    );
    assert.equal(batch.lookUp(table, pixels, out), 3);
    assert.equal(batch.lookUp(table, pixels, out), 0, 'no chunk is left to claim');
    batch.waitDone();
    const colours = new Set<number>();
    for (let p = 0; p < half.length; p += 3) colours.add((half[p] << 16) | (half[p + 1] << 8) | half[p + 2]);
    assert.equal(runAsks(table, batch), colours.size, 'each colour asked once, in whichever chunk met it first');
    assert.equal(batch.fill(table, pixels, out), 0);
    assert.deepEqual(out, pixels.map(answer));
    // the worker says it is done; the buffer, used again, starts a new batch
    assert.equal(batch.finished(), false);
    batch.finish();
    assert.equal(batch.finished(), true);
    batch.reset();
    assert.equal(batch.finished(), false);
    assert.equal(batch.lookUp(table, pixels, out), 4, 'every chunk claimable again');
  });

  it('leaves a colour a later batch asked first unanswered, and answers it once that colour is run', () => {
    const table = new ColourTable();
    const earlyPixels = Uint8Array.from([10, 20, 30, 40, 50, 60]);
    const laterPixels = Uint8Array.from([40, 50, 60, 70, 80, 90]);
    const early = batchOf(earlyPixels);
    const later = batchOf(laterPixels);
    // the stage's thread looks the later batch up before the worker reaches the early one
    later.batch.lookUp(table, laterPixels, later.out);
    early.batch.lookUp(table, earlyPixels, early.out);
    assert.equal(runAsks(table, early.batch), 1, 'the early batch asks only the colour no one asked before');
    assert.equal(
      early.batch.fill(table, earlyPixels, early.out),
      1,
      'the later batch asked 40,50,60: not answered yet',
    );
    const late = new Uint8Array(6);
    assert.equal(early.batch.gatherUnanswered(earlyPixels, late), 3);
    assert.deepEqual([...late.subarray(0, 3)], [40, 50, 60]);
    table.learn(late, late.map(answer), 3);
    assert.equal(early.batch.fill(table, earlyPixels, early.out), 0);
    assert.deepEqual(early.out, earlyPixels.map(answer));
    // the later batch runs its own asks as well; the answer is the same
    assert.equal(runAsks(table, later.batch), 2);
    assert.equal(later.batch.fill(table, laterPixels, later.out), 0);
    assert.deepEqual(later.out, laterPixels.map(answer));
  });

  it('says so, instead of waiting for ever, when a claimed chunk is never looked up', () => {
    const pixels = new Uint8Array(3 * 2 * CHUNK_PIXELS);
    const { batch, out } = batchOf(pixels);
    // a thread that claims the first chunk and stops before looking it up, as one that died would
    const control = new Int32Array(batch.buffer, 0, 1);
    Atomics.add(control, 0, 1);
    assert.equal(batch.lookUp(new ColourTable(), pixels, out), 1);
    assert.throws(() => batch.waitDone(50), /1 of 2 chunks claimed and not looked up after 50 ms/);
  });

  it('refuses shared memory too small for the batch, and a table of the wrong size', () => {
    assert.throws(() => new ChunkedLookUp(new SharedArrayBuffer(64), 300), /needs \d+ of shared memory/);
    const small = new WebAssembly.Memory({ initial: 16, maximum: 16, shared: true });
    assert.throws(() => new ColourTable(small), /memory is 1028 pages of 64 KiB \(67371008 bytes\), not 1048576 bytes/);
    assert.throws(() => new ColourTable(undefined, 2), /scratch slot is 0\.\.1, not 2/);
  });
});
