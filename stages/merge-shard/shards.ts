/**
 * Shards of a set: `<set>/<set>-NNNNN-of-MMMMM.tfrecord`, about a target size each. Planned from estimated record
 * sizes before anything is loaded (the file names need the count), patients spread over them in a seeded order so
 * centers and labels mix within a shard; then written one record at a time.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { shardFileName } from '../../shared/contract/index.js';
import { TFRecordWriter } from '../../shared/tfrecord.js';
import { seededShuffle } from '../cohort/splits.js';

export interface ShardPlan {
  set: string;
  /** Relative to the dataset folder. */
  file: string;
  patients: string[];
}

export function planShards(
  set: string,
  patients: { patientId: string; bytes: number }[],
  targetBytes: number,
  seed: string,
): ShardPlan[] {
  if (patients.length === 0) return [];
  const sorted = [...patients].sort((a, b) => (a.patientId < b.patientId ? -1 : a.patientId > b.patientId ? 1 : 0));
  const ordered = seededShuffle(sorted, `${seed}:${set}:shards`);
  const total = ordered.reduce((a, p) => a + p.bytes, 0);
  const count = Math.max(1, Math.min(ordered.length, Math.ceil(total / targetBytes)));
  const plans: ShardPlan[] = Array.from({ length: count }, (_, i) => ({
    set,
    file: shardFileName(set, i, count),
    patients: [],
  }));
  // Contiguous runs cut where the running size crosses k/count of the total; never an empty shard.
  let running = 0;
  let shard = 0;
  ordered.forEach((p, i) => {
    const remaining = ordered.length - i;
    const shardsLeft = count - shard;
    if (plans[shard].patients.length > 0 && (running >= ((shard + 1) * total) / count || remaining < shardsLeft))
      shard++;
    plans[shard].patients.push(p.patientId);
    running += p.bytes;
  });
  return plans;
}

export interface WrittenShard {
  file: string;
  records: number;
  bytes: number;
}

/**
 * Write every planned shard, asking `record(patientId)` for each record in turn, so only one patient's data is in
 * memory. On failure the shards already written are removed: no half dataset is left behind.
 */
export async function writeShards(
  outDir: string,
  plans: ShardPlan[],
  record: (patientId: string) => Buffer | Promise<Buffer>,
  options: { gzip?: boolean; onRecord?: (patientId: string, bytes: number) => void } = {},
): Promise<WrittenShard[]> {
  const written: WrittenShard[] = [];
  try {
    for (const plan of plans) {
      const writer = await TFRecordWriter.open(join(outDir, plan.file), { gzip: options.gzip });
      // One record in flight: the next is built while the previous one drains to disk.
      let inFlight: Promise<void> = Promise.resolve();
      try {
        for (const id of plan.patients) {
          const buf = await record(id);
          await inFlight;
          inFlight = writer.write(buf);
          inFlight.catch(() => undefined); // handled where it is awaited; this only marks it as handled meanwhile
          options.onRecord?.(id, buf.length);
        }
        await inFlight;
      } catch (err) {
        await inFlight.catch(() => undefined);
        await writer.abort();
        throw err;
      }
      await writer.close();
      written.push({ file: plan.file, records: writer.records, bytes: statSync(join(outDir, plan.file)).size });
    }
  } catch (err) {
    for (const w of written) rmSync(join(outDir, w.file), { force: true });
    throw err;
  }
  return written;
}
