/**
 * fsck's pass over `blobs/`: every file re-hashed against its name (`fast`: its size against the size it was
 * stored with), with a bytes/s and ETA meter; what is referenced but absent is reported by the caller.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.js';
import { BytesProgress } from './bytes-progress.js';

const CHUNK = 4 * 1024 * 1024;
const BLOB_NAME = /^[0-9a-f]{64}$/;

export type BlobFinding =
  | { kind: 'altered'; hash: string; path: string; actual: string; size: number }
  | { kind: 'size'; hash: string; path: string; size: number; expected: number }
  | { kind: 'stray'; path: string };

export interface BlobPassResult {
  findings: BlobFinding[];
  /** hashes present as blob files */
  present: Set<string>;
  files: number;
  bytes: number;
  seconds: number;
}

/** Blob files under `dir`, with their sizes (one stat each: the meter's total). */
function listBlobs(dir: string): { name: string; shard: string; path: string; size: number }[] {
  const out: { name: string; shard: string; path: string; size: number }[] = [];
  let shards: string[];
  try {
    shards = readdirSync(dir);
  } catch {
    return out;
  }
  for (const shard of shards.sort()) {
    const sub = join(dir, shard);
    if (!statSync(sub).isDirectory()) {
      out.push({ name: shard, shard: '', path: sub, size: 0 });
      continue;
    }
    for (const name of readdirSync(sub).sort()) {
      const path = join(sub, name);
      out.push({ name, shard, path, size: statSync(path).size });
    }
  }
  return out;
}

function hashFile(path: string, buf: Buffer, onBytes: (n: number) => void): string {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      onBytes(n);
    }
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks every blob file under `dir`. `expected`: hash -> size the metadata recorded (undefined when the metadata
 * could not be read: names are still checked against contents).
 */
export function checkBlobs(
  dir: string,
  expected: Map<string, number> | undefined,
  fast: boolean,
  log: Logger,
): BlobPassResult {
  const started = performance.now();
  const blobs = listBlobs(dir);
  const findings: BlobFinding[] = [];
  const present = new Set<string>();
  const total = blobs.reduce((s, b) => s + b.size, 0);
  const meter = fast ? undefined : new BytesProgress(log, 'fsck blobs', total);
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const b of blobs) {
    if (!BLOB_NAME.test(b.name) || b.shard !== b.name.slice(0, 2)) {
      findings.push({ kind: 'stray', path: b.path });
      meter?.tick(b.size);
      continue;
    }
    present.add(b.name);
    const want = expected?.get(b.name);
    if (want !== undefined && want !== b.size) {
      findings.push({ kind: 'size', hash: b.name, path: b.path, size: b.size, expected: want });
      meter?.tick(b.size);
      continue;
    }
    if (fast) continue;
    const actual = hashFile(b.path, buf, (n) => meter?.tick(n));
    if (actual !== b.name) findings.push({ kind: 'altered', hash: b.name, path: b.path, actual, size: b.size });
  }
  meter?.end();
  return { findings, present, files: blobs.length, bytes: total, seconds: (performance.now() - started) / 1000 };
}
