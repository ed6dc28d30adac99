/**
 * Whether the store's SQLite file is sound, and the one message for a damaged store.
 *
 * - A write is refused on a store whose `PRAGMA quick_check` fails (once per open store, before its first write:
 *   store.ts), so a damaged file is not made worse, nor read by gc as if whole; gc runs the full `integrity_check`
 *   (it also compares every index with its table) because it deletes what it believes unreferenced.
 * - SQLite's SQLITE_CORRUPT and SQLITE_NOTADB, wherever they come from, become `damagedStoreError`.
 */
import type Database from 'better-sqlite3';
import { StoreError } from './store.js';

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

export type CheckDepth = 'quick' | 'full';

/**
 * SQLite's own check of the file: `quick_check` (pages and b-trees, O(file)) or `integrity_check` (also every
 * index against its table). Returns its problem lines, [] when sound; a check that cannot even read the file
 * returns the error as its one line.
 */
export function sqliteProblems(db: Database.Database, depth: CheckDepth, max = 100): string[] {
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

/** Throws the damaged-store error, quoting SQLite, when the check finds a problem. */
export function refuseIfDamaged(db: Database.Database, home: string, depth: CheckDepth, doing: string): void {
  const lines = sqliteProblems(db, depth, QUOTED + 1);
  if (!lines.length) return;
  const quoted = lines.slice(0, QUOTED).join('; ') + (lines.length > QUOTED ? '; ...' : '');
  throw new StoreError(
    `the store at ${home} is damaged (SQLite's ${depth === 'quick' ? 'quick_check' : 'integrity_check'}: ` +
      `${quoted}); ${doing} refused, so that nothing is written on the strength of damaged rows: ` +
      damagedStoreAdvice(home),
  );
}
