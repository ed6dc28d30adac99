/**
 * How a worker runs one try of a datum: a one-shot process per datum (process-executor.ts) or one batching process
 * per slot that serves its datums in turn (batch-executor.ts). runDatum (run-datum.ts) mounts the inputs, keeps the
 * log, checks what the datum did and records the outcome the same way for both.
 */
import type { Datum } from '../pps/datums.js';

export interface Executor {
  /** The PFS_ROOT of the next try: its inputs are mounted there and its outputs read from `<root>/out`. */
  begin(): string;
  /** Runs the datum mounted under `root`, its output going to `logFd`: '' on success, else what went wrong. */
  exec(datum: Datum, root: string, logFd: number): Promise<string>;
  /** The try failed after it ran (or could not run): a batching process is ended, the next datum gets a fresh one. */
  fail(why: string): void;
  /** After each try: its root is emptied or removed. */
  finish(root: string): void;
}
