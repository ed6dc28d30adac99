/**
 * Where a datum runs: runDatum gives each try a root with the datum's inputs mounted (mount.ts), runs it on the
 * worker's executor (executor.ts), keeps its log, checks what it did (stray writes, inputs written, outputs that
 * cannot be taken) and records the outcome: on success its outputs are ingested into blobs and recorded; a failure
 * carries the datum's own last error line (failure-reason.ts).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Datum, datumInputsJson } from '../pps/datums.js';
import { recordFailure, recordSuccess } from '../store/datum-versions.js';
import { now } from '../store/store.js';
import { active } from './children.js';
import type { DatumContext } from './context.js';
import { failureReason, logSize } from './failure-reason.js';
import { fullDiskAdvice, jobWideFault } from './job-wide-fault.js';
import { inUserTerms } from './user-paths.js';
import type { Executor } from './executor.js';
import { changedInputs, inputsWrittenError, materialize } from './mount.js';
import { ingest, OutputError } from './outputs.js';
import { isolation } from './sandbox.js';
import { type StoreEntries, storeStrays, strayError } from './strays.js';

/** How a datum ended: its failure carries `jobWide` when every datum of the job would fail alike. */
export type DatumOutcome = { ok: true } | { ok: false; error: string; log: string; jobWide?: string };

/**
 * Runs one datum up to `tries` times; on success its outputs are in the store and recorded. A fault that fails
 * every datum alike (job-wide-fault.ts) is not retried and is returned with `jobWide`.
 */
export async function runDatum(ctx: DatumContext, datum: Datum, executor: Executor): Promise<DatumOutcome> {
  const { store, job } = ctx;
  const logPath = join(ctx.logDir, `${datum.id}.log`);
  const started = now();
  const t0 = performance.now();
  let error = '';
  let attempt = 0;
  let retry = true;
  let jobWide: string | undefined;
  const mode = isolation();
  for (attempt = 1; attempt <= ctx.tries && retry && !active.interrupted; attempt++) {
    // with datum batching every datum of the slot's process has the same root, emptied after each datum
    const scratch = executor.begin();
    try {
      const mount = materialize(store, datum, scratch, mode === 'copy');
      const logFd = openSync(logPath, 'a');
      try {
        writeSync(logFd, `--- datum ${datum.id} attempt ${attempt}/${ctx.tries} ${now()}\n`);
        const from = logSize(logFd);
        // without a read-only view of the store, what a datum leaves in the store's folders is looked for after it
        const before: StoreEntries | undefined = mode === 'copy' ? storeStrays(store) : undefined;
        error = await executor.exec(datum, scratch, logFd);
        if (error) {
          const { reason, kind } = failureReason(logPath, from);
          // the exit, the reported error and the log's reason all in the user's paths, not the scratch folder's
          error = inUserTerms(reason ? `${error}: ${reason}` : error, scratch, datum, (h) => store.blobs.pathOf(h));
          jobWide = jobWideFault({ reason: error, kind });
          if (jobWide === 'a full disk') error = `${error}; ${fullDiskAdvice(store.home, error)}`;
          if (jobWide) retry = false;
        }
        const strays = before ? storeStrays(store, before) : [];
        if (strays.length) {
          // Not retried: the datum's cmd writes outside $PFS_ROOT/out, every try would.
          error = strayError(store, strays);
          executor.fail(error);
          writeSync(logFd, `--- ${error}\n`);
          retry = false;
          continue;
        }
        const damaged = changedInputs(mount.linked);
        if (damaged.length) {
          // Not retried: the stored copy itself changed, so another try would read the damaged file.
          error = inputsWrittenError(damaged);
          executor.fail(error);
          writeSync(logFd, `--- ${error}\n`);
          retry = false;
          continue;
        }
        if (!error) {
          let files;
          try {
            files = await ingest(store, join(scratch, 'out'), mount);
          } catch (e) {
            if (!(e instanceof OutputError)) throw e;
            error = inUserTerms(e.message, scratch, datum, (h) => store.blobs.pathOf(h));
            executor.fail(error);
            writeSync(logFd, `--- ${error}\n`);
            retry = false; // the datum made the same link each time
            continue;
          }
          store.tx(() =>
            recordSuccess(
              store,
              { pipeline: job.pipeline, id: datum.id, since: job.seq, job: job.id },
              {
                tries: attempt,
                started,
                finished: now(),
                seconds: (performance.now() - t0) / 1000,
                log: logPath,
                inputs: datumInputsJson(datum),
              },
              files,
            ),
          );
          return { ok: true };
        }
        writeSync(logFd, `--- attempt ${attempt} failed: ${error}\n`);
      } finally {
        closeSync(logFd);
      }
    } catch (e) {
      error = (e as Error).message;
      // the engine's own writes (outputs into blobs, SQLite) on a full disk: every datum would meet it
      jobWide = jobWideFault({ reason: error, code: (e as { code?: unknown }).code });
      if (jobWide === 'a full disk' && !error.includes(store.home))
        error = `${error}; ${fullDiskAdvice(store.home, error)}`;
      if (jobWide) retry = false;
      executor.fail(error);
    } finally {
      executor.finish(scratch);
    }
  }
  if (active.interrupted) return { ok: false, error: 'interrupted', log: logPath };
  const tries = attempt - 1;
  recordFailure(
    store,
    { pipeline: job.pipeline, id: datum.id, since: job.seq },
    { tries, started, finished: now(), seconds: (performance.now() - t0) / 1000, log: logPath, error },
  );
  const after = `(after ${tries} ${tries === 1 ? 'try' : 'tries'}${jobWide && tries < ctx.tries ? `, not retried: ${jobWide}` : ''})`;
  return { ok: false, error: `${error} ${after}`, log: logPath, ...(jobWide ? { jobWide } : {}) };
}
