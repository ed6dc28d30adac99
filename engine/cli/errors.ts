/**
 * An error out of a verb as the user sees it: one line on stderr and an exit status. Usage errors 2 (with the
 * usage line), the store's errors their own status (75: the store is busy, 124: timed out), bad specs and globs 1,
 * a damaged SQLite file (SQLITE_CORRUPT, SQLITE_NOTADB) 1 with what to do, anything else 1 (its stack with
 * TESSELLA_DEBUG set).
 */
import { GlobError } from '../pfs/glob.js';
import { SpecError } from '../pps/spec/spec-error.js';
import { damagedStoreError, isCorruption } from '../store/integrity.js';
import { defaultHome, StoreError } from '../store/store.js';
import { UsageError } from './verb.js';

export function reportError(name: string, usage: string, e: unknown): number {
  const err = e as Error;
  if (e instanceof UsageError || (e as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
    process.stderr.write(`tessella ${name}: ${err.message}\nUsage: tessella ${usage}\n`);
    return 2;
  }
  if (e instanceof StoreError) {
    process.stderr.write(`tessella ${name}: ${err.message}\n`);
    return e.exitCode;
  }
  if (e instanceof SpecError || e instanceof GlobError) {
    process.stderr.write(`tessella ${name}: ${err.message}\n`);
    return 1;
  }
  if (isCorruption(e)) {
    process.stderr.write(`tessella ${name}: ${damagedStoreError(defaultHome(), e).message}\n`);
    return 1;
  }
  const code = (e as { code?: unknown }).code;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
    // a full disk: the store is consistent (every change is one transaction); say where and what to do
    const where = err.message.includes(defaultHome()) ? '' : ` (the store: ${defaultHome()})`;
    process.stderr.write(
      `tessella ${name}: no space left on the device: ${err.message}${where}; free space and run the command again\n`,
    );
    return 1;
  }
  process.stderr.write(`tessella ${name}: ${process.env.TESSELLA_DEBUG ? err.stack : err.message}\n`);
  return 1;
}
