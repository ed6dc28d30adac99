/**
 * The store's SQLite schema, and the upgrade of older stores in place.
 *
 * Version 2 keeps history as intervals instead of copies (Pachyderm stores commits as diffs over their parents):
 * - `files`: one row per version of a path on a branch, live from the commit that put it (`added`, a commit seq)
 *   until the commit that replaced or deleted it (`removed`; NULL while in the branch head). A commit writes rows
 *   only for what it changes; the tree of commit s is every row with added <= s < removed.
 * - `datums`: one row per version of a datum of a pipeline, in the datum sets of the jobs from `since` until
 *   `until` (job seqs). A job writes rows only for the datums it runs, drops or takes back from an older job;
 *   `job` is the job that ran it, whose outputs (`datum_files`) and log it keeps.
 */
import type Database from 'better-sqlite3';

export const SCHEMA_VERSION = 2;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repos (
  name TEXT PRIMARY KEY,
  created TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  pipeline TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS branches (
  repo TEXT NOT NULL,
  name TEXT NOT NULL,
  head TEXT,
  PRIMARY KEY (repo, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commits (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  repo TEXT NOT NULL,
  branch TEXT NOT NULL,
  parent TEXT,
  created TEXT NOT NULL,
  origin TEXT NOT NULL,
  job TEXT,
  description TEXT NOT NULL DEFAULT '',
  n_files INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commits_repo ON commits (repo, branch, seq);
CREATE INDEX IF NOT EXISTS commits_parent ON commits (parent);
CREATE TABLE IF NOT EXISTS files (
  repo TEXT NOT NULL,
  branch TEXT NOT NULL,
  path TEXT NOT NULL,
  added INTEGER NOT NULL,
  removed INTEGER,
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (repo, branch, path, added)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_head ON files (repo, branch, path) WHERE removed IS NULL;
CREATE INDEX IF NOT EXISTS files_added ON files (repo, branch, added);
CREATE INDEX IF NOT EXISTS files_removed ON files (repo, branch, removed) WHERE removed IS NOT NULL;
CREATE TABLE IF NOT EXISTS provenance (
  commit_id TEXT NOT NULL,
  repo TEXT NOT NULL,
  branch TEXT NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY (commit_id, repo, branch)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS provenance_source ON provenance (source);
CREATE TABLE IF NOT EXISTS pipelines (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  file TEXT,
  salt TEXT NOT NULL,
  version INTEGER NOT NULL,
  created TEXT NOT NULL,
  updated TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  pipeline TEXT NOT NULL,
  version INTEGER NOT NULL,
  salt TEXT NOT NULL,
  state TEXT NOT NULL,
  inputs TEXT NOT NULL,
  created TEXT NOT NULL,
  started TEXT,
  finished TEXT,
  pid INTEGER,
  pid_start TEXT,
  reason TEXT,
  n_total INTEGER NOT NULL DEFAULT 0,
  n_processed INTEGER NOT NULL DEFAULT 0,
  n_skipped INTEGER NOT NULL DEFAULT 0,
  n_failed INTEGER NOT NULL DEFAULT 0,
  n_recovered INTEGER NOT NULL DEFAULT 0,
  input_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_pipeline ON jobs (pipeline, seq);
CREATE INDEX IF NOT EXISTS jobs_running ON jobs (pipeline) WHERE state = 'running';
CREATE TABLE IF NOT EXISTS datums (
  pipeline TEXT NOT NULL,
  id TEXT NOT NULL,
  since INTEGER NOT NULL,
  until INTEGER,
  job TEXT NOT NULL,
  hash TEXT NOT NULL,
  state TEXT NOT NULL,
  tries INTEGER NOT NULL DEFAULT 0,
  started TEXT,
  finished TEXT,
  seconds REAL,
  log TEXT,
  error TEXT,
  inputs TEXT NOT NULL,
  def TEXT,
  PRIMARY KEY (pipeline, id, since)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS datums_current ON datums (pipeline, id) WHERE until IS NULL;
CREATE INDEX IF NOT EXISTS datums_todo ON datums (pipeline, state) WHERE until IS NULL AND state <> 'success';
CREATE INDEX IF NOT EXISTS datums_since ON datums (pipeline, since);
CREATE INDEX IF NOT EXISTS datums_until ON datums (pipeline, until) WHERE until IS NOT NULL;
CREATE INDEX IF NOT EXISTS datums_job ON datums (job, id);
CREATE TABLE IF NOT EXISTS datum_files (
  job TEXT NOT NULL,
  datum TEXT NOT NULL,
  path TEXT NOT NULL,
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (job, datum, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS datum_files_path ON datum_files (path);
CREATE TABLE IF NOT EXISTS staging (
  pid INTEGER NOT NULL,
  pid_start TEXT NOT NULL,
  host TEXT NOT NULL,
  since TEXT NOT NULL,
  PRIMARY KEY (pid, host)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runner (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  pid_start TEXT NOT NULL,
  host TEXT NOT NULL,
  command TEXT NOT NULL,
  since TEXT NOT NULL
);
`;

/** Every file of every commit, as version 1 stored it: for inspection, never read by the engine. */
export const VIEWS = `
CREATE VIEW IF NOT EXISTS commit_files AS
  SELECT c.seq AS commit_seq, f.path AS path, f.hash AS hash, f.size AS size
  FROM commits c JOIN files f ON f.repo = c.repo AND f.branch = c.branch AND f.added <= c.seq AND (f.removed IS NULL OR f.removed > c.seq);
`;

/** The schema version of an open database: 0 for an empty one. */
export function schemaVersion(db: Database.Database): number {
  const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get();
  if (!hasMeta) return 0;
  const v = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
  return v ? Number(v.value) : 0;
}

/**
 * Version 1 kept every commit's whole file list (`commit_files`) and a row per datum per job, copies for skipped
 * ones. The upgrade, inside the caller's transaction: each branch's commits replayed in order into file versions;
 * each pipeline's datum set of its last successful job (and of a later unfinished or failed job) into datum
 * versions, so nothing is re-run. Older jobs keep their counts but no longer list their datums.
 */
export function upgradeFromV1(db: Database.Database): { commits: number; datums: number } {
  db.exec(`ALTER TABLE commit_files RENAME TO commit_files_v1`);
  db.exec(`ALTER TABLE datums RENAME TO datums_v1`);
  db.exec(`ALTER TABLE datum_files RENAME TO datum_files_v1`);
  db.exec(`DROP INDEX IF EXISTS datums_hash`);
  db.exec(`DROP INDEX IF EXISTS datum_files_path`);
  db.exec(`ALTER TABLE jobs ADD COLUMN input_key TEXT NOT NULL DEFAULT ''`);
  db.exec(SCHEMA);

  // files: replay each branch's commits in seq order, diffing each file list against its parent's
  const insFile = db.prepare(
    `INSERT INTO files (repo, branch, path, added, removed, hash, size) VALUES (?, ?, ?, ?, NULL, ?, ?)`,
  );
  const closeFile = db.prepare(
    `UPDATE files SET removed = ? WHERE repo = ? AND branch = ? AND path = ? AND removed IS NULL`,
  );
  const filesOfCommit = db.prepare(`SELECT path, hash, size FROM commit_files_v1 WHERE commit_seq = ?`);
  const branches = db.prepare(`SELECT DISTINCT repo, branch FROM commits`).all() as { repo: string; branch: string }[];
  let commits = 0;
  for (const b of branches) {
    let tree = new Map<string, string>();
    // (better-sqlite3 allows no writes while a read cursor is open: one commit's list at a time)
    for (const c of db
      .prepare(`SELECT seq FROM commits WHERE repo = ? AND branch = ? ORDER BY seq`)
      .all(b.repo, b.branch) as { seq: number }[]) {
      commits++;
      const next = new Map<string, string>();
      for (const f of filesOfCommit.all(c.seq) as { path: string; hash: string; size: number }[]) {
        next.set(f.path, f.hash);
        const old = tree.get(f.path);
        if (old === f.hash) continue;
        if (old !== undefined) closeFile.run(c.seq, b.repo, b.branch, f.path);
        insFile.run(b.repo, b.branch, f.path, c.seq, f.hash, f.size);
      }
      for (const p of tree.keys()) if (!next.has(p)) closeFile.run(c.seq, b.repo, b.branch, p);
      tree = next;
    }
  }
  db.exec(`DROP TABLE commit_files_v1`);
  db.exec(VIEWS);

  // datums: the set of each pipeline's last successful job, then the rows of any later job over it
  const insDatum = db.prepare(
    `INSERT INTO datums (pipeline, id, since, until, job, hash, state, tries, started, finished, seconds, log, error, inputs, def)
     VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
  );
  const closeDatum = db.prepare(`UPDATE datums SET until = ? WHERE pipeline = ? AND id = ? AND until IS NULL`);
  const insFiles = db.prepare(
    `INSERT OR IGNORE INTO datum_files (job, datum, path, hash, size) SELECT job, datum, path, hash, size FROM datum_files_v1 WHERE job = ? AND datum = ?`,
  );
  type OldDatum = {
    id: string;
    hash: string;
    state: string;
    tries: number;
    started: string | null;
    finished: string | null;
    seconds: number | null;
    log: string | null;
    error: string | null;
    inputs: string;
  };
  const rowsOf = db.prepare(
    `SELECT id, hash, state, tries, started, finished, seconds, log, error, inputs FROM datums_v1 WHERE job = ?`,
  );
  // a v1 job interrupted mid-run cannot be resumed here (its queue was never stored): the next run starts anew
  db.prepare(
    `UPDATE jobs SET state = 'killed', reason = 'interrupted before the store was upgraded', pid = NULL WHERE state = 'running'`,
  ).run();
  let datums = 0;
  for (const { name } of db.prepare(`SELECT name FROM pipelines`).all() as { name: string }[]) {
    const ok = db
      .prepare(`SELECT seq, id FROM jobs WHERE pipeline = ? AND state = 'success' ORDER BY seq DESC LIMIT 1`)
      .get(name) as { seq: number; id: string } | undefined;
    const later = db
      .prepare(`SELECT seq, id, state FROM jobs WHERE pipeline = ? AND seq > ? ORDER BY seq`)
      .all(name, ok?.seq ?? 0) as { seq: number; id: string; state: string }[];
    const live = new Map<string, string>(); // id -> hash of the current version
    for (const job of [...(ok ? [ok] : []), ...later]) {
      const rows = rowsOf.all(job.id) as OldDatum[];
      const seen = new Set<string>();
      for (const d of rows) {
        seen.add(d.id);
        if (d.state === 'skipped' && live.get(d.id) === d.hash) continue;
        if (live.has(d.id)) closeDatum.run(job.seq, name, d.id);
        const state = d.state === 'skipped' ? 'success' : d.state;
        insDatum.run(
          name,
          d.id,
          job.seq,
          job.id,
          d.hash,
          state,
          d.tries,
          d.started,
          d.finished,
          d.seconds,
          d.log,
          d.error,
          d.inputs,
        );
        insFiles.run(job.id, d.id);
        live.set(d.id, d.hash);
        datums++;
      }
      // a failed v1 job listed its whole set (skipped rows first); an interrupted one only what it finished
      if ('state' in job && job.state === 'failure') {
        for (const id of [...live.keys()]) {
          if (seen.has(id)) continue;
          closeDatum.run(job.seq, name, id);
          live.delete(id);
        }
      }
    }
  }
  db.exec(`DROP TABLE datums_v1`);
  db.exec(`DROP TABLE datum_files_v1`);
  db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION));
  return { commits, datums };
}
