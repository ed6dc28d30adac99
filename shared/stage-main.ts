/**
 * The one way a stage starts: read the stage contract's variables, make the stage's logger, run its work, and on
 * a crash log the error with its stack as one line and exit 1 (the engine, or Pachyderm, then retries the datum).
 * Bad input is not a crash: a stage writes the slide's error.json and returns normally (exit 0).
 *
 * Under datum batching (shared/next-datum.ts) the process runs `main` once per datum: it asks the worker for the
 * next datum, takes that datum's variables into process.env, runs, and reports a crash with the next call instead
 * of exiting (the worker then fails that datum and starts the stage afresh for the next one, as Pachyderm does).
 */
import { createLogger, type Logger } from './log.js';
import { batchingPort, markServing, NextDatumClient } from './next-datum.js';
import { readStageEnv, type StageEnv } from './pfs.js';
import { assertParameterNames, specVariables } from './stage-parameters.js';

export interface StageContext {
  env: StageEnv;
  /** The stage's logger, with the job and datum when the engine gives them. */
  log: Logger;
}

type StageFn = (ctx: StageContext) => Promise<void> | void;

export interface StageOptions {
  /**
   * Work a batching process may do before its first datum, while it waits (a model stage opens the model the engine
   * shows it ahead: pfs.ts aheadInputPath), before its first NextDatum call. What it throws is logged, not fatal.
   */
  ahead?: (log: Logger) => Promise<void>;
}

/** Run a stage's `main` and own its exit: 0 when it returns, 1 with the error logged when it throws. */
export function stageMain(stage: string, main: StageFn, options: StageOptions = {}): void {
  const port = batchingPort();
  if (port !== undefined) {
    void serveDatums(stage, main, port, options);
    return;
  }
  let log = createLogger(stage);
  runOnce(stage, main, (l) => {
    log = l;
  }).catch((err: unknown) => {
    logCrash(log, err);
    // exit now: an inference worker or an open slide must not keep a failed datum's process alive
    process.exit(1);
  });
}

/** Whether this process has named the environment's variables that are no parameter of its stage. */
let ignoredLogged = false;

async function runOnce(stage: string, main: StageFn, onLogger: (log: Logger) => void): Promise<void> {
  const env = readStageEnv();
  const job = env.jobId ? { job: env.jobId } : {};
  const datum = env.datumId ? { datum: env.datumId } : {};
  const log = createLogger(stage, { ...job, ...datum });
  onLogger(log);
  // a near miss of a parameter (TILE_SIZ) fails here, before any work; other names are named once and left alone
  const ignored = assertParameterNames(stage, specVariables(process.env));
  if (!ignoredLogged && ignored.length) {
    log.info('variables ignored', { why: `not parameters of ${stage}`, names: ignored });
    ignoredLogged = true;
  }
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  if (!startLogged) {
    // what starting the process cost before the first datum (module loading): benchmarks add it up per stage
    log.info('process started', { startup_s: round3(t0 / 1000), cpu_s: round3((cpu.user + cpu.system) / 1e6) });
    startLogged = true;
  }
  await main({ env, log });
  const used = process.cpuUsage(cpu);
  log.info('datum done', {
    wall_s: round3((performance.now() - t0) / 1000),
    cpu_s: round3((used.user + used.system) / 1e6),
  });
}

/** Whether this process has logged its start-up (the first datum it serves). */
let startLogged = false;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

function logCrash(log: Logger, err: unknown): string {
  const e = err instanceof Error ? err : new Error(String(err));
  // kind: 'model' or 'parameters' marks a fault that fails every datum of the job alike (no use retrying it)
  const kind = (e as { kind?: unknown }).kind;
  log.error('failed', {
    error: e.name,
    message: e.message,
    ...(typeof kind === 'string' ? { kind } : {}),
    stack: e.stack,
  });
  return `${e.name}: ${e.message}`;
}

/** One datum after another, until the worker ends the process. */
async function serveDatums(stage: string, main: StageFn, port: number, options: StageOptions): Promise<void> {
  markServing();
  const client = new NextDatumClient(port);
  let log = createLogger(stage);
  // before the first call, which tells the worker the process is ready: the engine starts the processes ahead of
  // their jobs in DAG order, a few at a time, so this work comes before that of the processes below
  await options.ahead?.(log).catch((err: unknown) =>
    log.warn('preparing ahead of the first datum failed; the datum does it itself', {
      error: (err as Error).message,
    }),
  );
  let previous: string[] = [];
  let error = '';
  for (;;) {
    let env: Record<string, string>;
    try {
      env = await client.next(error);
    } catch (err) {
      logCrash(log, err);
      process.exit(1);
    }
    // the last datum's variables go (an input a datum lacks has none), the next one's come
    for (const k of previous) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
    previous = Object.keys(env);
    error = '';
    try {
      await runOnce(stage, main, (l) => {
        log = l;
      });
      // one process serves thousands of slides: its memory after each shows whether it stays flat
      const m = process.memoryUsage();
      log.info('datum served', { rss_mb: mb(m.rss), heap_mb: mb(m.heapUsed), external_mb: mb(m.external) });
    } catch (err) {
      error = logCrash(log, err);
    }
  }
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
