/**
 * Whether the store's SQLite file is sound, and the one message for a damaged store.
 *
 * - A write is refused on a store whose check before writing fails (once per open store, before its first write:
 *   store.ts), so a damaged file is not made worse: SQLite's `quick_check` while the file is small, its header and size
 *   (a truncation, another file written over it) when large, since quick_check reads the whole file (~2.7 ms per MB
 *   here: 1.8 s at 20,000 slides) and a commit must cost what it changes (TESSELLA_WRITE_CHECK). A damaged page a write
 *   touches fails it with SQLITE_CORRUPT, turned into the message below; gc runs the full `integrity_check` (it also
 *   compares every index with its table) because it deletes what it believes unreferenced; fsck finds the rest.
 * - SQLite's SQLITE_CORRUPT and SQLITE_NOTADB, wherever they come from, become `damagedStoreError`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { StoreError } from './store-error.js';

/** How many lines of SQLite's report a message quotes. */
const QUOTED = 3;

/** SQLite's result codes that mean the file is not a whole database (extended codes included). */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

/** How to repair a damaged store: one text, used by every message about it. */
export function repairAdvice(home: string): string {
  return (
    `stop every tessella using it, then either restore ${home} from a backup (meta.sqlite and blobs/ copied ` +
    `together while nothing ran), or rebuild it: move it aside, \`tessella init\`, put the slides, manifest and ` +
    `models again and \`tessella run\` (every output is computed again; nothing in the old store is reused)`
  );
}

/** What to do with a damaged store: fsck, then repair. */
export function damagedStoreAdvice(home: string): string {
  return `run \`tessella fsck\` to see what is affected. To repair: ${repairAdvice(home)}`;
}

/** The error for a store whose metadata SQLite cannot read: what happened, `tessella fsck`, backup or rebuild. */
export function damagedStoreError(home: string, cause: unknown): StoreError {
  const err = cause as { code?: string; message?: string };
  const what = [err.code, err.message].filter(Boolean).join(': ');
  return new StoreError(`the store at ${home} is damaged (${what}): ${damagedStoreAdvice(home)}`);
}

export type CheckDepth = 'header' | 'quick' | 'full';

/** Above this size of meta.sqlite, `auto` checks only the header before a write. */
export const QUICK_CHECK_MAX_BYTES = 64 << 20;

/** The check a write runs on a metadata file of `bytes`, per TESSELLA_WRITE_CHECK. */
export function writeCheckDepth(setting: 'auto' | 'quick' | 'header', bytes: number): CheckDepth {
  if (setting !== 'auto') return setting;
  return bytes <= QUICK_CHECK_MAX_BYTES ? 'quick' : 'header';
}

/**
 * SQLite's file header against the file (O(1)): the magic string, a page size SQLite can write, and a file at least
 * as long as the page count the header states (valid when its version-valid-for number equals the change counter;
 * with WAL, later pages may still be in meta.sqlite-wal, never fewer in the main file). Problem lines, [] when sound.
 */
export function headerProblems(file: string): string[] {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const h = Buffer.alloc(100);
    const got = readSync(fd, h, 0, 100, 0);
    if (got < 100) return [`the file is ${size} bytes, shorter than SQLite's 100-byte header`];
    if (h.toString('latin1', 0, 16) !== 'SQLite format 3\0') return ["the file does not start with SQLite's header"];
    const raw = h.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return [`the header gives page size ${raw}`];
    const pages = h.readUInt32BE(28);
    const valid = h.readUInt32BE(92) === h.readUInt32BE(24);
    if (valid && size < pages * pageSize)
      return [
        `the file is ${size} bytes, but its header counts ${pages} pages of ${pageSize} (${pages * pageSize} bytes): truncated`,
      ];
    return [];
  } finally {
    closeSync(fd);
  }
}

/**
 * SQLite's own check of the file: `quick_check` (pages and b-trees, O(file)) or `integrity_check` (also every
 * index against its table). Returns its problem lines, [] when sound; a check that cannot even read the file
 * returns the error as its one line.
 */
export function sqliteProblems(db: Database.Database, depth: CheckDepth, max = 100): string[] {
  if (depth === 'header') return headerProblems(db.name);
  const pragma = depth === 'quick' ? 'quick_check' : 'integrity_check';
  try {
    const rows = db.pragma(`${pragma}(${max})`) as Record<string, string>[];
    const lines = rows.map((r) => Object.values(r)[0]);
    return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
  } catch (e) {
    if (!isCorruption(e)) throw e;
    const err = e as { code?: string; message: string };
    return [`${err.code}: ${err.message}`];
  }
}

const CHECK_NAMES: Record<CheckDepth, string> = {
  header: "SQLite's file header",
  quick: "SQLite's quick_check",
  full: "SQLite's integrity_check",
};

/** Throws the damaged-store error, quoting SQLite, when the check finds a problem. */
export function refuseIfDamaged(db: Database.Database, home: string, depth: CheckDepth, doing: string): void {
  const lines = sqliteProblems(db, depth, QUOTED + 1);
  if (!lines.length) return;
  const quoted = lines.slice(0, QUOTED).join('; ') + (lines.length > QUOTED ? '; ...' : '');
  throw new StoreError(
    `the store at ${home} is damaged (${CHECK_NAMES[depth]}: ` +
      `${quoted}); ${doing} refused, so that nothing is written on the strength of damaged rows: ` +
      damagedStoreAdvice(home),
  );
}
