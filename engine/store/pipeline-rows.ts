/** The `pipelines` table: each pipeline's spec (JSON), the file it came from, its salt and its version. */
import type { Store } from './store.js';

export interface PipelineRow {
  name: string;
  spec: string;
  file: string | null;
  salt: string;
  version: number;
  created: string;
  updated: string;
}

export function pipelineRow(store: Store, name: string): PipelineRow | undefined {
  return store.stmt<PipelineRow>(`SELECT * FROM pipelines WHERE name = ?`).get(name);
}

/** Every pipeline, by name. */
export function pipelineRows(store: Store): PipelineRow[] {
  return store.stmt<PipelineRow>(`SELECT * FROM pipelines ORDER BY name`).all();
}

/** Every pipeline's spec JSON, in the table's order. */
export function pipelineSpecTexts(store: Store): string[] {
  return store
    .stmt<{ spec: string }>(`SELECT spec FROM pipelines`)
    .all()
    .map((r) => r.spec);
}

export function insertPipeline(
  store: Store,
  p: Pick<PipelineRow, 'name' | 'spec' | 'file' | 'salt' | 'created' | 'updated'>,
): void {
  store
    .stmt(`INSERT INTO pipelines (name, spec, file, salt, version, created, updated) VALUES (?, ?, ?, ?, 1, ?, ?)`)
    .run(p.name, p.spec, p.file, p.salt, p.created, p.updated);
}

export function setPipelineFile(store: Store, name: string, file: string): void {
  store.stmt(`UPDATE pipelines SET file = ? WHERE name = ?`).run(file, name);
}

/** A new version of a pipeline's spec. */
export function updatePipelineSpec(
  store: Store,
  p: Pick<PipelineRow, 'name' | 'spec' | 'file' | 'salt' | 'updated'>,
): void {
  store
    .stmt(`UPDATE pipelines SET spec = ?, file = ?, salt = ?, version = version + 1, updated = ? WHERE name = ?`)
    .run(p.spec, p.file, p.salt, p.updated, p.name);
}

export function deletePipelineRow(store: Store, name: string): void {
  store.stmt(`DELETE FROM pipelines WHERE name = ?`).run(name);
}

/** A pipeline's output repo becomes an ordinary repo (the pipeline is deleted, its output kept). */
export function releaseOutputRepo(store: Store, name: string): void {
  store.stmt(`UPDATE repos SET pipeline = NULL WHERE name = ?`).run(name);
}
