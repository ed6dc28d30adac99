/**
 * The pool of byte buffers the slide readers and the tile stages lend out: what is given back is lent again; what
 * it never lent (a decoder's own buffer, a view into Node's shared slab) is left alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool } from '../../shared/slide/buffer-pool.js';

test('a buffer given back is lent again; one the pool did not lend is not kept', () => {
  const pool = new BufferPool(4);
  const a = pool.take(600_000);
  pool.give(a);
  assert.equal(pool.freeCount, 1);
  assert.equal(pool.take(600_000).buffer, a.buffer, 'the same memory again');
  const small = Buffer.from('a view into the shared slab');
  pool.give(small);
  pool.give(Buffer.allocUnsafe(600_000));
  assert.equal(pool.freeCount, 0, 'neither was lent by the pool');
  const b = pool.take(1000);
  pool.give(b);
  assert.throws(() => pool.give(b), /given back twice/);
});
