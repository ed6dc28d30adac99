/**
 * A tessella dataset read back: `dataset.json` (the contract merge writes, zod-checked), the shards of each
 * set, and one decoded record per patient. Reading streams shard by shard and checks both CRCs of every record.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readDatasetJson, type DatasetJson } from './contract/dataset-json.js';
import { decodePatientRecord, type PatientRecord } from './contract/patient-example.js';
import { readTFRecords } from './tfrecord.js';

export interface ShardRef {
  set: string;
  file: string;
  path: string;
  records: number;
}

export function shardsOf(dir: string, info: DatasetJson, set?: string): ShardRef[] {
  const out: ShardRef[] = [];
  for (const [name, s] of Object.entries(info.sets)) {
    if (set !== undefined && name !== set) continue;
    for (const shard of s.shards)
      out.push({ set: name, file: shard.file, path: join(dir, shard.file), records: shard.records });
  }
  return out;
}

/** Every patient record of a dataset (or of one set), streamed, CRCs checked. */
export async function* readPatients(
  dir: string,
  options: { set?: string; info?: DatasetJson } = {},
): AsyncGenerator<PatientRecord & { set: string; file: string }> {
  const info = options.info ?? readDatasetJson(dir);
  for (const shard of shardsOf(dir, info, options.set)) {
    for await (const buf of readTFRecords(shard.path, { gzip: info.compression === 'GZIP', verify: true })) {
      yield { ...decodePatientRecord(buf), set: shard.set, file: shard.file };
    }
  }
}

/** The record of one patient (a scan of every shard), or undefined. */
export async function findPatient(
  dir: string,
  patientId: string,
  info: DatasetJson = readDatasetJson(dir),
): Promise<(PatientRecord & { set: string; file: string }) | undefined> {
  for await (const r of readPatients(dir, { info })) if (r.patientId === patientId) return r;
  return undefined;
}

export interface ShardCheck {
  file: string;
  set: string;
  expected: number;
  records: number;
  tiles: number;
  problem?: string;
}

/** Read every record of every shard: both CRCs, the Example decodes, lengths agree, counts match dataset.json. */
export async function verifyDataset(
  dir: string,
  info: DatasetJson = readDatasetJson(dir),
): Promise<{ ok: boolean; shards: ShardCheck[]; problems: string[] }> {
  const shards: ShardCheck[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const shard of shardsOf(dir, info)) {
    const check: ShardCheck = { file: shard.file, set: shard.set, expected: shard.records, records: 0, tiles: 0 };
    try {
      if (!existsSync(shard.path)) throw new Error('file is missing');
      for await (const buf of readTFRecords(shard.path, { gzip: info.compression === 'GZIP', verify: true })) {
        const r = decodePatientRecord(buf);
        if (r.embeddingDim !== info.embedding_dim)
          throw new Error(
            `patient '${r.patientId}': embedding_dim ${r.embeddingDim}, dataset.json says ${info.embedding_dim}`,
          );
        if (seen.has(r.patientId)) throw new Error(`patient '${r.patientId}' appears twice`);
        seen.add(r.patientId);
        check.records++;
        check.tiles += r.numTiles;
      }
      if (check.records !== check.expected)
        throw new Error(`${check.records} records, dataset.json says ${check.expected}`);
    } catch (err) {
      check.problem = (err as Error).message;
      problems.push(`${shard.file}: ${check.problem}`);
    }
    shards.push(check);
  }
  for (const [name, s] of Object.entries(info.sets)) {
    const got = shards.filter((c) => c.set === name);
    const tiles = got.reduce((a, c) => a + c.tiles, 0);
    if (got.every((c) => !c.problem) && tiles !== s.tiles)
      problems.push(`set ${name}: ${tiles} tiles in the records, dataset.json says ${s.tiles}`);
  }
  return { ok: problems.length === 0, shards, problems };
}
