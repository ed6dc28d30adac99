/**
 * One datum as one process, as a Pachyderm worker runs it: a scratch PFS_ROOT with the datum's inputs
 * materialized (hard links to the read-only blobs, or private copies), an empty out/, the spec's cmd with
 * Pachyderm's variables, tries and timeout, its log kept; on success the files under out/ are ingested into
 * blobs. The process cannot write the store and ends with the runner (datum-sandbox.ts); a failure carries the
 * datum's own last error line (datum-error.ts).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { datumEnv, type Datum } from '../pps/datums.js';
import { changedInputs, ingest, inputsWrittenError, materialize, OutputError } from './mount.js';
import { failureReason, logSize } from './errors.js';
import { isolation, SETUP_FAILED, wrapCommand, type Isolation } from './sandbox.js';
import type { BatchWorker } from './batch-executor.js';
import { storeStrays, strayError, type StoreEntries } from './strays.js';
import { recordFailure, recordSuccess } from '../store/datum-versions.js';
import type { PipelineSpec } from '../pps/spec.js';
import { ownerPrefix, processStartTime } from '../store/proc.js';
import { now, type Store } from '../store/store.js';
import type { JobRow } from '../pps/jobs.js';
import { checkWorkingDir } from './working-dir.js';

interface Running {
  children: Set<number>;
  interrupted: boolean;
}

export const active: Running = { children: new Set(), interrupted: false };

/** Kills every datum process this process started (their process groups). */
export function killChildren(): void {
  active.interrupted = true;
  for (const pid of active.children) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function rewritePfs(text: string, root: string): string {
  return text.replace(/(^|[^\w./-])\/pfs(?=\/|$|[^\w.-])/g, (_m, pre: string) => pre + root);
}

/** What `list datum` shows of a datum's inputs. */
export function datumInputsJson(d: Datum): string {
  return JSON.stringify(
    d.inputs.map((i) => ({
      name: i.name,
      repo: i.repo,
      branch: i.branch,
      commit: i.commit,
      path: i.path,
      files: i.files.length,
    })),
  );
}

export interface DatumContext {
  store: Store;
  spec: PipelineSpec;
  job: JobRow;
  tries: number;
  timeoutS?: number;
  workingDir: string;
  logDir: string;
}

/** Runs one datum up to `tries` times; on success its outputs are in the store and recorded. */
export async function runDatum(
  ctx: DatumContext,
  datum: Datum,
  gpus: string[],
  batch?: BatchWorker,
): Promise<{ ok: true } | { ok: false; error: string; log: string }> {
  const { store, job } = ctx;
  const logPath = join(ctx.logDir, `${datum.id}.log`);
  const started = now();
  const t0 = performance.now();
  let error = '';
  let attempt = 0;
  let retry = true;
  const mode = isolation();
  for (attempt = 1; attempt <= ctx.tries && retry && !active.interrupted; attempt++) {
    // with datum batching every datum of the slot's process has the same root, emptied after each datum
    const scratch = batch ? batch.root : join(store.scratchDir, `${ownerPrefix}${randomBytes(6).toString('hex')}`);
    try {
      const mount = materialize(store, datum, scratch, mode === 'copy');
      const logFd = openSync(logPath, 'a');
      try {
        writeSync(logFd, `--- datum ${datum.id} attempt ${attempt}/${ctx.tries} ${now()}\n`);
        const from = logSize(logFd);
        // without a read-only view of the store, what a datum leaves in the store's folders is looked for after it
        const before: StoreEntries | undefined = mode === 'copy' ? storeStrays(store) : undefined;
        error = batch ? await batch.exec(datum, logFd) : await execDatum(ctx, datum, scratch, logFd, gpus, mode);
        if (error) {
          const reason = failureReason(logPath, from);
          if (reason) error = `${error}: ${reason}`;
        }
        const strays = before ? storeStrays(store, before) : [];
        if (strays.length) {
          // Not retried: the datum's cmd writes outside $PFS_ROOT/out, every try would.
          error = strayError(store, strays);
          batch?.end(error);
          writeSync(logFd, `--- ${error}\n`);
          retry = false;
          continue;
        }
        const damaged = changedInputs(mount.linked);
        if (damaged.length) {
          // Not retried: the stored copy itself changed, so another try would read the damaged file.
          error = inputsWrittenError(damaged);
          batch?.end(error);
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
            error = e.message;
            batch?.end(error);
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
      batch?.end(error);
    } finally {
      if (batch) batch.clear();
      else rmScratch(scratch);
    }
  }
  if (active.interrupted) return { ok: false, error: 'interrupted', log: logPath };
  const tries = attempt - 1;
  recordFailure(
    store,
    { pipeline: job.pipeline, id: datum.id, since: job.seq },
    { tries, started, finished: now(), seconds: (performance.now() - t0) / 1000, log: logPath, error },
  );
  return { ok: false, error: `${error} (after ${tries} ${tries === 1 ? 'try' : 'tries'})`, log: logPath };
}

/** Scratch folders being removed in the background (awaited before the job ends). */
const removals = new Set<Promise<void>>();

/** Resolves when every scratch folder being removed in the background is gone. */
export async function scratchRemovals(): Promise<void> {
  await Promise.all([...removals]);
}

function rmScratch(dir: string): void {
  const p: Promise<void> = rm(dir, { recursive: true, force: true })
    .catch(() => rmScratchSync(dir))
    .finally(() => removals.delete(p));
  removals.add(p);
}

function rmScratchSync(dir: string): void {
  try {
    removeTree(dir);
  } catch {
    /* left for cleanScratch */
  }
}

/** Removes a datum's folder, also where the datum made folders read-only (made writable and tried again). */
export function removeTree(p: string): void {
  try {
    rmSync(p, { recursive: true, force: true });
  } catch {
    execFileSync('chmod', ['-R', 'u+w', p], { stdio: 'ignore' });
    rmSync(p, { recursive: true, force: true });
  }
}

/** Empties a datum root for the next datum: out/ is emptied (kept: it may be a mount), all else but `.child` goes. */
export function clearDatumRoot(root: string): void {
  for (const name of readdirSync(root)) {
    if (name === '.child') continue;
    const p = join(root, name);
    if (name === 'out') for (const o of readdirSync(p)) removeTree(join(p, o));
    else removeTree(p);
  }
}

/** What every process of a job's datums gets: the engine's environment, the spec's env, Pachyderm's job variables. */
export function jobEnv(ctx: DatumContext, root: string, gpus: string[]): Record<string, string> {
  const env = preJobEnv(ctx, root, gpus);
  env.PACH_JOB_ID = ctx.job.id;
  env.PACH_OUTPUT_COMMIT_ID = ctx.job.id;
  return env;
}

/** The same without the job's ids: a batch process started ahead of its job. */
export function preJobEnv(ctx: Pick<DatumContext, 'spec'>, root: string, gpus: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries((ctx.spec.transform.env ?? {}) as Record<string, string>))
    env[k] = rewritePfs(String(v), root);
  env.PPS_PIPELINE_NAME = ctx.spec.pipeline.name;
  env.PFS_ROOT = root;
  if (gpus.length) env.CUDA_VISIBLE_DEVICES = gpus.join(',');
  return env;
}

export interface DatumProcess {
  child: ChildProcess;
  /** resolves '' when the process ended with an accepted code, else what went wrong */
  exited: Promise<string>;
  /** kills its process group; `exited` then says `why` */
  kill(why: string): void;
}

/**
 * Starts the spec's cmd under the sandbox wrapper, leading its own process group, recorded in `<root>/.child` so
 * a later run can kill it if this process dies first. `output`: the log's fd, or 'pipe' to read it here.
 */
export function startProcess(
  ctx: Pick<DatumContext, 'store' | 'spec' | 'workingDir'>,
  root: string,
  env: Record<string, string>,
  output: number | 'pipe',
  mode: Isolation,
): DatumProcess {
  const { spec } = ctx;
  const cmd = spec.transform.cmd.map((a) => rewritePfs(a, root));
  const stdin = spec.transform.stdin as string[] | undefined;
  const accept = new Set<number>([0, ...((spec.transform.acceptReturnCode as number[] | undefined) ?? [])]);
  const run = wrapCommand(mode, ctx.store.home, join(root, 'out'), cmd);
  // fd 3: a pipe whose far end closes when this process dies, however it dies (the wrapper's watchdog)
  const child = spawn(run.file, run.args, {
    cwd: ctx.workingDir,
    env,
    stdio: [stdin ? 'pipe' : 'ignore', output, output, 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid) {
    active.children.add(pid);
    try {
      writeFileSync(join(root, '.child'), `${pid} ${processStartTime(pid)}\n`);
    } catch {
      /* scratch gone */
    }
  }
  let killedFor: string | undefined;
  const killGroup = () => {
    try {
      process.kill(-pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const exited = new Promise<string>((resolvePromise) => {
    let settled = false;
    const done = (msg: string) => {
      if (settled) return;
      settled = true;
      resolvePromise(msg);
    };
    child.on('error', (e) => {
      if (pid) active.children.delete(pid);
      done(`cannot start ${JSON.stringify(cmd[0])}: ${e.message}`);
    });
    child.on('exit', () => {
      // leftovers of the process group (background jobs of a shell, the watchdog) do not outlive the datum
      killGroup();
      child.stdio[3]?.destroy();
    });
    child.on('close', (code, signal) => {
      if (pid) active.children.delete(pid);
      if (killedFor) done(killedFor);
      else if (signal) done(`killed by ${signal}`);
      else if (code === SETUP_FAILED && mode === 'namespace')
        done(`exit code ${code} (TESSELLA_ISOLATION=copy runs datums without a mount namespace)`);
      else if (code !== null && accept.has(code)) done('');
      else done(`exit code ${code}`);
    });
  });
  if (stdin && child.stdin) {
    child.stdin.on('error', () => undefined); // the process may exit without reading it all
    child.stdin.end(stdin.map((l) => rewritePfs(l, root)).join('\n') + '\n');
  }
  return {
    child,
    exited,
    kill: (why) => {
      killedFor ??= why;
      killGroup();
    },
  };
}

/** Starts the datum's process; resolves '' on success, else what went wrong. */
async function execDatum(
  ctx: DatumContext,
  datum: Datum,
  scratch: string,
  logFd: number,
  gpus: string[],
  mode: Isolation,
): Promise<string> {
  const workingDirProblem = checkWorkingDir(ctx);
  if (workingDirProblem) return workingDirProblem;
  const env = { ...jobEnv(ctx, scratch, gpus), ...datumEnv(datum, scratch) };
  const proc = startProcess(ctx, scratch, env, logFd, mode);
  const timer =
    ctx.timeoutS && ctx.timeoutS > 0
      ? setTimeout(() => proc.kill(`timed out after datumTimeout ${ctx.spec.datumTimeout}`), ctx.timeoutS * 1000)
      : undefined;
  try {
    return await proc.exited;
  } finally {
    if (timer) clearTimeout(timer);
  }
}
