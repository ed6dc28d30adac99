/**
 * The engine's store at `$TESSELLA_HOME` (default `./.tessella`): SQLite metadata (WAL) in `meta.sqlite`,
 * content-addressed blobs in `blobs/`, temp files in `tmp/`, per-datum scratch folders in `scratch/`, datum logs
 * in `logs/`.
 *
 * Consistency: every metadata change is one SQLite transaction; blobs are whole before a transaction references
 * them. A SIGKILL at any moment leaves either the old or the new state. Concurrency: SQLite serializes writers
 * (busy timeout); one process at a time may run jobs (the `runner` row, checked against live pids).
 */
import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { BlobStore } from './blobs.js';
import { ownerAlive, processAlive, processStartTime, selfStartTime } from './proc.js';

export class StoreError extends Error {
  constructor(
    message: string,
    /** exit status the CLI uses */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export function defaultHome(): string {
  return resolve(process.env.TESSELLA_HOME || join(process.cwd(), '.tessella'));
}

const SCHEMA_VERSION = 1;

const SCHEMA = `
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
CREATE TABLE IF NOT EXISTS commit_files (
  commit_seq INTEGER NOT NULL,
  path TEXT NOT NULL,
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (commit_seq, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS provenance (
  commit_id TEXT NOT NULL,
  repo TEXT NOT NULL,
  branch TEXT NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY (commit_id, repo, branch)
) WITHOUT ROWID;
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
  n_recovered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_pipeline ON jobs (pipeline, seq);
CREATE TABLE IF NOT EXISTS datums (
  job TEXT NOT NULL,
  id TEXT NOT NULL,
  hash TEXT NOT NULL,
  state TEXT NOT NULL,
  tries INTEGER NOT NULL DEFAULT 0,
  reused_from TEXT,
  started TEXT,
  finished TEXT,
  seconds REAL,
  log TEXT,
  error TEXT,
  inputs TEXT NOT NULL,
  PRIMARY KEY (job, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS datums_hash ON datums (job, hash);
CREATE TABLE IF NOT EXISTS datum_files (
  job TEXT NOT NULL,
  datum TEXT NOT NULL,
  path TEXT NOT NULL,
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (job, datum, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS datum_files_path ON datum_files (job, path);
CREATE TABLE IF NOT EXISTS runner (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  pid_start TEXT NOT NULL,
  host TEXT NOT NULL,
  command TEXT NOT NULL,
  since TEXT NOT NULL
);
`;

export interface OpenOptions {
  /** milliseconds a writer waits for SQLite's lock (default 15000) */
  busyMs?: number;
}

export class Store {
  readonly db: Database.Database;
  readonly blobs: BlobStore;
  readonly scratchDir: string;
  readonly logsDir: string;
  private holdsRunner = false;

  private constructor(
    readonly home: string,
    opts: OpenOptions,
  ) {
    mkdirSync(home, { recursive: true });
    this.blobs = new BlobStore(home);
    this.scratchDir = join(home, 'scratch');
    this.logsDir = join(home, 'logs');
    mkdirSync(this.scratchDir, { recursive: true });
    mkdirSync(this.logsDir, { recursive: true });
    try {
      this.db = new Database(join(home, 'meta.sqlite'), { timeout: opts.busyMs ?? Number(process.env.TESSELLA_BUSY_MS ?? 15000) });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = OFF');
      this.db.exec(SCHEMA);
    } catch (e) {
      const err = e as { code?: string; message: string };
      if (err.code === 'SQLITE_BUSY') {
        throw new StoreError(`the store at ${home} is busy (another tessella process is writing to it); try again`, 75);
      }
      throw new StoreError(`cannot open the store at ${home}: ${err.message}`);
    }
    const v = this.db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
    if (!v) this.db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
    else if (Number(v.value) > SCHEMA_VERSION) {
      throw new StoreError(`the store at ${home} has schema ${v.value}, newer than this tessella (${SCHEMA_VERSION})`);
    }
    this.blobs.cleanTemp();
  }

  static open(home = defaultHome(), opts: OpenOptions = {}): Store {
    return new Store(resolve(home), opts);
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (this.holdsRunner) this.releaseRunner();
    if (this.db.open) this.db.close();
  }

  /** The process that holds the right to run jobs, when it is alive. */
  runnerHolder(): { pid: number; host: string; command: string; since: string } | undefined {
    const row = this.db.prepare(`SELECT pid, pid_start, host, command, since FROM runner WHERE id = 1`).get() as
      | { pid: number; pid_start: string; host: string; command: string; since: string }
      | undefined;
    if (!row) return undefined;
    if (row.host === hostname() && !processAlive(row.pid, row.pid_start)) return undefined;
    return row;
  }

  /**
   * Takes the right to run jobs (one process at a time). Waits up to `waitMs` (default TESSELLA_LOCK_TIMEOUT
   * seconds, else 10 s) for a live holder, then fails naming it. A dead holder's claim is taken over.
   */
  async acquireRunner(command: string, waitMs = Number(process.env.TESSELLA_LOCK_TIMEOUT ?? 10) * 1000, onWait?: (msg: string) => void): Promise<void> {
    if (this.holdsRunner) return;
    const deadline = Date.now() + waitMs;
    let told = false;
    for (;;) {
      const got = this.tx(() => {
        const holder = this.runnerHolder();
        if (holder && !(holder.pid === process.pid && holder.host === hostname())) return holder;
        this.db
          .prepare(`INSERT OR REPLACE INTO runner (id, pid, pid_start, host, command, since) VALUES (1, ?, ?, ?, ?, ?)`)
          .run(process.pid, selfStartTime, hostname(), command, new Date().toISOString());
        return undefined;
      });
      if (!got) {
        this.holdsRunner = true;
        return;
      }
      const who = `tessella pid ${got.pid}${got.host !== hostname() ? ` on ${got.host}` : ''} (\`${got.command}\`, since ${got.since})`;
      if (Date.now() >= deadline) {
        throw new StoreError(
          `the store at ${this.home} is held by ${who}; try again when it finishes (TESSELLA_LOCK_TIMEOUT sets how many seconds to wait)`,
          75,
        );
      }
      if (!told && onWait) {
        onWait(`waiting for ${who} to finish (up to ${Math.round(waitMs / 1000)} s)`);
        told = true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  releaseRunner(): void {
    if (!this.holdsRunner) return;
    this.holdsRunner = false;
    try {
      this.db.prepare(`DELETE FROM runner WHERE id = 1 AND pid = ? AND host = ?`).run(process.pid, hostname());
    } catch {
      /* closing anyway */
    }
  }

  get runnerHeld(): boolean {
    return this.holdsRunner;
  }

  /**
   * Removes scratch folders left by dead processes and kills the datum processes they had started (their
   * process group), if those still run. Call while holding the runner.
   */
  cleanScratch(): number {
    let n = 0;
    for (const name of readdirSync(this.scratchDir)) {
      if (ownerAlive(name)) continue;
      const dir = join(this.scratchDir, name);
      try {
        const [pid, start] = readFileSync(join(dir, '.child'), 'utf8').trim().split(' ');
        const child = Number(pid);
        if (child > 0 && start && processStartTime(child) === start) process.kill(-child, 'SIGKILL');
      } catch {
        /* no child recorded, or gone */
      }
      rmSync(dir, { recursive: true, force: true });
      n++;
    }
    return n;
  }
}

export function now(): string {
  return new Date().toISOString();
}
