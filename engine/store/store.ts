/**
 * The engine's store at `$TESSELLA_HOME` (default `./.tessella`): SQLite metadata (WAL) in `meta.sqlite`,
 * content-addressed blobs in `blobs/`, temp files in `tmp/`, per-datum scratch folders in `scratch/`, datum logs
 * in `logs/`.
 *
 * Consistency: every metadata change is one SQLite transaction; blobs are whole before a transaction references
 * them. A SIGKILL at any moment leaves either the old or the new state. Concurrency: SQLite serializes writers
 * (busy timeout); one process at a time may run jobs (the `runner` row, checked against live pids).
 */
import Database, { type Statement } from 'better-sqlite3';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { engineEnv } from '../env.js';
import { BlobStore } from './blobs.js';
import { StoreError } from './store-error.js';
import { damagedStoreError, isCorruption, refuseIfDamaged, writeCheckDepth } from './integrity.js';
import { SCHEMA, SCHEMA_VERSION, schemaVersion, upgradeFromV1, VIEWS } from './schema.js';
import { ownerAlive, processAlive, processStartTime, selfStartTime } from './proc.js';

export { StoreError };

export function defaultHome(): string {
  return resolve(engineEnv().TESSELLA_HOME ?? join(process.cwd(), '.tessella'));
}

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
  /** whether SQLite's quick check passed on this open store (checked before its first write: integrity.ts) */
  private checkedForWrites = false;

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
      this.db = new Database(join(home, 'meta.sqlite'), { timeout: opts.busyMs ?? engineEnv().TESSELLA_BUSY_MS });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = OFF');
      this.migrate();
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if (isCorruption(e)) throw damagedStoreError(home, e);
      const err = e as { code?: string; message: string };
      if (err.code === 'SQLITE_BUSY') {
        throw new StoreError(`the store at ${home} is busy (another tessella process is writing to it); try again`, 75);
      }
      throw new StoreError(`cannot open the store at ${home}: ${err.message}`);
    }
    this.blobs.cleanTemp();
  }

  /** Creates the schema, or upgrades an older store in place (one transaction: all or nothing). */
  private migrate(): void {
    const v = schemaVersion(this.db);
    if (v > SCHEMA_VERSION) {
      throw new StoreError(
        `the store at ${this.home} has schema ${v}, newer than this tessella (${SCHEMA_VERSION}): use a newer tessella`,
      );
    }
    if (v === SCHEMA_VERSION) {
      this.db.exec(SCHEMA); // indexes added within this version (every statement is IF NOT EXISTS)
      return;
    }
    this.tx(() => {
      if (v === 0) {
        this.db.exec(SCHEMA);
        this.db.exec(VIEWS);
        this.stmt(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
      } else if (v === 1) {
        upgradeFromV1(this.db);
      } else {
        throw new StoreError(
          `the store at ${this.home} has schema ${v}, which this tessella cannot upgrade: move it aside and rebuild it ` +
            `(tessella init, then put your slides, manifest and models again and run)`,
        );
      }
    });
  }

  private readonly statements = new Map<string, Statement>();

  /** A prepared statement, compiled once per store (the SQL text is the key). */
  stmt<R = unknown>(sql: string): Statement<unknown[], R> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st as Statement<unknown[], R>;
  }

  static open(home = defaultHome(), opts: OpenOptions = {}): Store {
    return new Store(resolve(home), opts);
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE: writers queue instead of failing mid-way). */
  tx<T>(fn: () => T): T {
    this.refuseWritesIfDamaged();
    return this.db.transaction(fn).immediate();
  }

  /** Before this open store's first write: the check TESSELLA_WRITE_CHECK names, refusing a damaged file (integrity.ts). */
  refuseWritesIfDamaged(): void {
    if (this.checkedForWrites || this.db.inTransaction) return;
    const depth = writeCheckDepth(engineEnv().TESSELLA_WRITE_CHECK, statSync(this.db.name).size);
    refuseIfDamaged(this.db, this.home, depth, 'writing to it is');
    this.checkedForWrites = true;
  }

  close(): void {
    if (this.holdsRunner) this.releaseRunner();
    if (this.db.open) this.db.close();
  }

  /** The process that holds the right to run jobs, when it is alive. */
  runnerHolder(): { pid: number; host: string; command: string; since: string } | undefined {
    const row = this.stmt(`SELECT pid, pid_start, host, command, since FROM runner WHERE id = 1`).get() as
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
  async acquireRunner(
    command: string,
    waitMs = engineEnv().TESSELLA_LOCK_TIMEOUT * 1000,
    onWait?: (msg: string) => void,
  ): Promise<void> {
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
      this.stmt(`DELETE FROM runner WHERE id = 1 AND pid = ? AND host = ?`).run(process.pid, hostname());
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
