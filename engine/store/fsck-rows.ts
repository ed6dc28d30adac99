/**
 * The SQL of `tessella fsck` (engine/fsck/): rows that refer to rows that are gone, and who refers to a blob.
 * Each query reads a raw connection (fsck opens the file itself: a damaged store cannot go through Store.open).
 */
import type Database from 'better-sqlite3';

type Db = Database.Database;

export function schemaVersionOf(db: Db): number {
  const v = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
  return v ? Number(v.value) : 0;
}

export function tableCounts(db: Db): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ['repos', 'branches', 'commits', 'files', 'jobs', 'datums', 'datum_files'])
    out[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  return out;
}

/** Commits whose parent has no row. */
export function commitsWithMissingParent(db: Db) {
  return db
    .prepare(
      `SELECT c.repo, c.branch, c.id, c.parent FROM commits c
       WHERE c.parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commits p WHERE p.id = c.parent) ORDER BY c.seq`,
    )
    .all() as { repo: string; branch: string; id: string; parent: string }[];
}

/** Branches whose head has no row, or is a commit of another repo or branch. */
export function branchesWithBadHead(db: Db) {
  return db
    .prepare(
      `SELECT b.repo, b.name AS branch, b.head, c.repo AS head_repo, c.branch AS head_branch FROM branches b
       LEFT JOIN commits c ON c.id = b.head
       WHERE b.head IS NOT NULL AND (c.id IS NULL OR c.repo <> b.repo OR c.branch <> b.name)`,
    )
    .all() as { repo: string; branch: string; head: string; head_repo: string | null; head_branch: string | null }[];
}

/** Names that branches, commits or file versions give as their repo, with no repo row. */
export function rowsOfMissingRepos(db: Db) {
  return db
    .prepare(
      `SELECT 'branches' AS tbl, repo, count(*) AS n FROM branches WHERE repo NOT IN (SELECT name FROM repos) GROUP BY repo
       UNION ALL SELECT 'commits', repo, count(*) FROM commits WHERE repo NOT IN (SELECT name FROM repos) GROUP BY repo
       UNION ALL SELECT 'files', repo, count(*) FROM files WHERE repo NOT IN (SELECT name FROM repos) GROUP BY repo`,
    )
    .all() as { tbl: string; repo: string; n: number }[];
}

/** Pipelines without their output repo. */
export function pipelinesWithoutRepo(db: Db): string[] {
  return (
    db.prepare(`SELECT name FROM pipelines WHERE name NOT IN (SELECT name FROM repos) ORDER BY name`).all() as {
      name: string;
    }[]
  ).map((r) => r.name);
}

/** Provenance rows whose output commit or source commit has no row. */
export function provenanceWithMissingCommit(db: Db) {
  return db
    .prepare(
      `SELECT p.commit_id, p.repo, p.branch, p.source,
              EXISTS (SELECT 1 FROM commits c WHERE c.id = p.commit_id) AS has_output,
              EXISTS (SELECT 1 FROM commits c WHERE c.id = p.source) AS has_source
       FROM provenance p
       WHERE NOT EXISTS (SELECT 1 FROM commits c WHERE c.id = p.commit_id)
          OR NOT EXISTS (SELECT 1 FROM commits c WHERE c.id = p.source)`,
    )
    .all() as {
    commit_id: string;
    repo: string;
    branch: string;
    source: string;
    has_output: 0 | 1;
    has_source: 0 | 1;
  }[];
}

/** Every provenance row: output commit -> sources. */
export function provenanceSources(db: Db): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of db.prepare(`SELECT commit_id, source FROM provenance`).iterate() as Iterable<{
    commit_id: string;
    source: string;
  }>) {
    let s = out.get(r.commit_id);
    if (!s) out.set(r.commit_id, (s = new Set()));
    s.add(r.source);
  }
  return out;
}

/** Successful jobs: their id (= their output commit's), pipeline and input commits (JSON). */
export function successfulJobs(db: Db) {
  return db.prepare(`SELECT id, pipeline, inputs FROM jobs WHERE state = 'success' ORDER BY seq`).all() as {
    id: string;
    pipeline: string;
    inputs: string;
  }[];
}

/** Successful jobs whose output commit has no row. */
export function jobsWithoutCommit(db: Db) {
  return db
    .prepare(
      `SELECT j.pipeline, j.id FROM jobs j
       WHERE j.state = 'success' AND NOT EXISTS (SELECT 1 FROM commits c WHERE c.id = j.id) ORDER BY j.seq`,
    )
    .all() as { pipeline: string; id: string }[];
}

/** Output commits of a pipeline whose job has no row. */
export function jobCommitsWithoutJob(db: Db) {
  return db
    .prepare(
      `SELECT c.repo, c.branch, c.id, c.job FROM commits c JOIN pipelines p ON p.name = c.repo
       WHERE c.origin = 'job' AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job) ORDER BY c.seq`,
    )
    .all() as { repo: string; branch: string; id: string; job: string }[];
}

/** Each branch head's recorded counts against the live file versions of its branch, where they differ. */
export function headCountMismatches(db: Db) {
  return db
    .prepare(
      `SELECT b.repo, b.name AS branch, c.id, c.n_files, c.size_bytes,
              coalesce(f.n, 0) AS live_files, coalesce(f.bytes, 0) AS live_bytes
       FROM branches b JOIN commits c ON c.id = b.head
       LEFT JOIN (SELECT repo, branch, count(*) AS n, sum(size) AS bytes FROM files INDEXED BY files_head
                  WHERE removed IS NULL GROUP BY repo, branch) f ON f.repo = b.repo AND f.branch = b.name
       WHERE c.n_files <> coalesce(f.n, 0) OR c.size_bytes <> coalesce(f.bytes, 0)`,
    )
    .all() as {
    repo: string;
    branch: string;
    id: string;
    n_files: number;
    size_bytes: number;
    live_files: number;
    live_bytes: number;
  }[];
}

/** Every blob the metadata refers to, with the size it was stored with. */
export function referencedBlobSizes(db: Db): Map<string, number> {
  const out = new Map<string, number>();
  for (const [hash, size] of db
    .prepare(`SELECT hash, size FROM files UNION SELECT hash, size FROM datum_files`)
    .raw()
    .iterate() as Iterable<[string, number]>)
    out.set(hash, size);
  return out;
}

export interface BlobUse {
  /** file versions holding the blob */
  versions: { repo: string; branch: string; path: string; commits: string[]; in_head: boolean }[];
  /** datum outputs holding it */
  outputs: { pipeline: string | null; job: string; datum: string; path: string }[];
}

/** Who refers to each of `hashes` (one pass over each table, through a temp table). */
export function usesOfBlobs(db: Db, hashes: string[]): Map<string, BlobUse> {
  const out = new Map<string, BlobUse>(hashes.map((h) => [h, { versions: [], outputs: [] }]));
  if (!hashes.length) return out;
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS fsck_blobs (hash TEXT PRIMARY KEY) WITHOUT ROWID; DELETE FROM fsck_blobs`);
  const ins = db.prepare(`INSERT OR IGNORE INTO fsck_blobs (hash) VALUES (?)`);
  for (const h of hashes) ins.run(h);
  const versions = db
    .prepare(
      `SELECT f.hash, f.repo, f.branch, f.path, f.added, f.removed FROM files f
       WHERE f.hash IN (SELECT hash FROM fsck_blobs) ORDER BY f.repo, f.branch, f.path, f.added`,
    )
    .all() as { hash: string; repo: string; branch: string; path: string; added: number; removed: number | null }[];
  const commitsIn = db.prepare(
    `SELECT id FROM commits WHERE repo = ? AND branch = ? AND seq >= ? AND (? IS NULL OR seq < ?) ORDER BY seq`,
  );
  for (const v of versions) {
    const commits = (commitsIn.all(v.repo, v.branch, v.added, v.removed, v.removed) as { id: string }[]).map(
      (r) => r.id,
    );
    out.get(v.hash)!.versions.push({
      repo: v.repo,
      branch: v.branch,
      path: v.path,
      commits,
      in_head: v.removed === null,
    });
  }
  const outputs = db
    .prepare(
      `SELECT df.hash, j.pipeline, df.job, df.datum, df.path FROM datum_files df LEFT JOIN jobs j ON j.id = df.job
       WHERE df.hash IN (SELECT hash FROM fsck_blobs) ORDER BY df.job, df.datum, df.path`,
    )
    .all() as { hash: string; pipeline: string | null; job: string; datum: string; path: string }[];
  for (const o of outputs)
    out.get(o.hash)!.outputs.push({ pipeline: o.pipeline, job: o.job, datum: o.datum, path: o.path });
  db.exec(`DROP TABLE fsck_blobs`);
  return out;
}

/** Which repos are pipelines' outputs (their files are recomputed, not put). */
export function pipelineNames(db: Db): Set<string> {
  return new Set((db.prepare(`SELECT name FROM pipelines`).all() as { name: string }[]).map((r) => r.name));
}

/** A pipeline's spec file, when it was created from one. */
export function pipelineFile(db: Db, name: string): string | undefined {
  return (
    (db.prepare(`SELECT file FROM pipelines WHERE name = ?`).get(name) as { file: string | null } | undefined)?.file ??
    undefined
  );
}
