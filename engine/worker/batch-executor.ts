/**
 * Datum batching (`transform.datumBatching: true`), as Pachyderm's worker does it: one process of the pipeline's
 * cmd serves one slot's datums in turn, asking for each with the `NextDatum` call (shared/next-datum.ts), which this
 * worker answers on its own loopback port. The process starts without a datum; its first call says it is ready.
 * A process started ahead of its job is also shown the inputs its job's datums will most likely share
 * (ahead-inputs.ts). For each datum the inputs are mounted under the same PFS_ROOT (out/ emptied, the last datum's
 * inputs removed), the call is answered with the datum's environment, and the next call ends that datum, with the
 * error it reports when it failed. A datum that fails, however (reported, exited, timed out, a stray write), ends
 * the process: the next datum gets a fresh one. When the job's datums are done the process is killed.
 *
 * The process's output is read here and written to the log of the datum it is serving, so each datum keeps its own
 * log, progress events included; what it writes between datums goes to the next datum's log.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type Datum, datumEnv } from '../pps/datums.js';
import { ownerPrefix } from '../store/proc.js';
import type { DatumContext } from './context.js';
import type { Executor } from './executor.js';
import { jobEnv, preJobEnv } from './job-env.js';
import { answer, type Call, NextDatumServer, refuse } from './next-datum-server.js';
import type { Isolation } from './sandbox.js';
import { clearDatumRoot, removeTree } from './scratch.js';
import { type DatumProcess, startProcess } from './spawn.js';
import { checkWorkingDir } from './working-dir.js';
import { canLowerAhead, lowerGroup, restoreGroup } from './priority.js';
import { engineEnv } from '../env.js';
import { mountAhead } from './ahead-inputs.js';

/** Whether specs that ask for datum batching get it (TESSELLA_DATUM_BATCHING=off: a process per datum). */
export function batchingEnabled(): boolean {
  return engineEnv().TESSELLA_DATUM_BATCHING !== 'off';
}

/** Output kept while no datum is being served (written to the next datum's log), at most. */
const BETWEEN_DATUMS_BYTES = 1 << 20;

/** What a batch process is started from: its pipeline's store, spec and working folder. */
export type PipelineOfWorker = Pick<DatumContext, 'store' | 'spec' | 'workingDir'>;

export class BatchWorker implements Executor {
  /** the PFS_ROOT every datum of this worker sees */
  readonly root: string;
  private readonly server = new NextDatumServer();
  private proc: DatumProcess | undefined;
  /** the process's start, until its first call: '' once it made it, else why it did not */
  private starting: Promise<string> | undefined;
  private call: Call | undefined;
  private logFd: number | undefined;
  private between: Buffer[] = [];
  private betweenBytes = 0;
  /** the job it serves now (`serve`); a worker started ahead of its job has none yet */
  private job: DatumContext | undefined;
  private closed = false;
  /** its process was started ahead of any job, at a lower priority */
  private lowered = false;

  /** `pipeline`: what its process is started from, before any job (prestart) or for the job it is made for. */
  constructor(
    private readonly pipeline: PipelineOfWorker,
    readonly gpus: string[],
    private readonly mode: Isolation,
  ) {
    this.root = join(pipeline.store.scratchDir, `${ownerPrefix}${randomBytes(6).toString('hex')}`);
    mkdirSync(join(this.root, 'out'), { recursive: true });
  }

  /** The job whose datums it serves from now on (before its first `exec`). */
  serve(job: DatumContext): void {
    this.job = job;
    // started ahead at a lower priority (priority.ts): its job is on the path now
    if (this.lowered && this.proc?.child.pid) restoreGroup(this.proc.child.pid);
    this.lowered = false;
  }

  /**
   * Starts the process before any datum is ready (while the pipelines upstream still run), so its start-up (Node,
   * the stage's imports) is off the path; the job's variables come with each datum's answer. Resolves as `start`.
   */
  prestart(): Promise<string> {
    this.starting ??= this.start();
    return this.starting;
  }

  /** Every datum of this worker has the same root, emptied after each (`finish`). */
  begin(): string {
    return this.root;
  }

  /**
   * Serves one datum whose inputs are mounted under the worker's root, its output going to `logFd`: '' when the
   * process asked for the next datum without an error, else what went wrong (the process is then gone).
   */
  async exec(datum: Datum, _root: string, logFd: number): Promise<string> {
    const ctx = this.job;
    if (!ctx) throw new Error('BatchWorker.exec before serve: the worker has no job');
    this.logFd = logFd;
    this.flushBetween();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<string>((resolve) => {
      if (ctx.timeoutS && ctx.timeoutS > 0)
        timer = setTimeout(() => resolve(`timed out after datumTimeout ${ctx.spec.datumTimeout}`), ctx.timeoutS * 1000);
    });
    try {
      this.starting ??= this.start();
      const started = await Promise.race([this.starting, timedOut]);
      if (started) return this.failed(started);
      const proc = this.proc!;
      const first = this.call!;
      this.call = undefined;
      const env = [...envList(jobEnv(ctx, this.root, this.gpus)), ...envList(datumEnv(datum, this.root))];
      // as Pachyderm's worker: the datum's variables also in $PFS_ROOT/.env, for code that cannot take the answer
      writeFileSync(join(this.root, '.env'), env.map((e) => `${e}\n`).join(''));
      answer(first.stream, env);
      const ended = await Promise.race([
        this.server.nextCall(),
        proc.exited.then((why) => why || 'exited before asking for the next datum (datum batching: loop on NextDatum)'),
        timedOut,
      ]);
      if (typeof ended === 'string') return this.failed(ended);
      this.call = ended;
      if (ended.error) return this.failed(`the datum's code reported an error`);
      return '';
    } finally {
      if (timer) clearTimeout(timer);
      this.logFd = undefined;
    }
  }

  /** Empties out/ and removes the last datum's inputs, for the next datum. */
  finish(): void {
    clearDatumRoot(this.root);
  }

  /** Ends the process and the port; the root goes. */
  async close(): Promise<void> {
    this.closed = true;
    const starting = this.starting;
    const proc = this.proc;
    this.fail('the job ended');
    await proc?.exited;
    // a start still listening sees `closed` and starts nothing; one that started has just been ended
    await starting;
    await this.server.close();
    removeTree(this.root);
  }

  private failed(why: string): string {
    this.fail(why);
    return why;
  }

  /** Ends the process (a datum failed after it ran): the next datum gets a fresh one. */
  fail(why: string): void {
    if (this.call) refuse(this.call.stream, 'the worker is ending this process');
    this.call = undefined;
    this.proc?.kill(why);
    this.proc = undefined;
    this.starting = undefined;
  }

  /** Starts the process; resolves '' once it first calls NextDatum, else why it did not. */
  private async start(): Promise<string> {
    const wd = checkWorkingDir(this.pipeline);
    if (wd) return wd;
    const port = await this.server.listen();
    if (this.closed) return 'the worker was closed before its process started';
    // started ahead of its job: the job's own variables come with each datum's answer
    const base = this.job ? jobEnv(this.job, this.root, this.gpus) : preJobEnv(this.pipeline, this.root, this.gpus);
    // and what its job's datums will most likely share, to prepare from while it waits (ahead-inputs.ts)
    const ahead = this.job ? {} : mountAhead(this.pipeline.store, this.pipeline.spec, this.root, this.mode === 'copy');
    const env = { ...base, ...ahead, PPS_WORKER_GRPC_PORT: String(port) };
    const proc = startProcess(this.pipeline, this.root, env, 'pipe', this.mode);
    this.proc = proc;
    if (!this.job && proc.child.pid && canLowerAhead()) this.lowered = lowerGroup(proc.child.pid);
    // what a process writes after it was ended (killed for a timeout) belongs to no datum
    proc.child.stdout?.on('data', (c: Buffer) => proc === this.proc && this.output(c));
    proc.child.stderr?.on('data', (c: Buffer) => proc === this.proc && this.output(c));
    const first = await Promise.race([
      this.server.nextCall(),
      proc.exited.then(
        (why) => why || 'exited without asking for a datum (datum batching: the cmd must call NextDatum)',
      ),
    ]);
    if (typeof first === 'string') return first;
    if (first.error) return `reported an error before its first datum: ${first.error}`;
    this.call = first;
    return '';
  }

  private output(chunk: Buffer): void {
    if (this.logFd !== undefined) {
      writeSync(this.logFd, chunk);
      return;
    }
    if (this.betweenBytes + chunk.length > BETWEEN_DATUMS_BYTES) return;
    this.between.push(chunk);
    this.betweenBytes += chunk.length;
  }

  private flushBetween(): void {
    if (this.logFd === undefined) return;
    for (const c of this.between) writeSync(this.logFd, c);
    this.between = [];
    this.betweenBytes = 0;
  }
}

function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}
