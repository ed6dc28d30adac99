/**
 * The one way a stage starts: read the stage contract's variables, make the stage's logger, run its work, and on
 * a crash log the error with its stack as one line and exit 1 (the engine, or Pachyderm, then retries the datum).
 * Bad input is not a crash: a stage writes the slide's error.json and returns normally (exit 0).
 */
import { createLogger, type Logger } from './log.js';
import { readStageEnv, type StageEnv } from './pfs.js';

export interface StageContext {
  env: StageEnv;
  /** The stage's logger, with the job and datum when the engine gives them. */
  log: Logger;
}

/** Run a stage's `main` and own its exit: 0 when it returns, 1 with the error logged when it throws. */
export function stageMain(stage: string, main: (ctx: StageContext) => Promise<void> | void): void {
  let log = createLogger(stage);
  const run = async () => {
    const env = readStageEnv();
    const job = env.jobId ? { job: env.jobId } : {};
    const datum = env.datumId ? { datum: env.datumId } : {};
    log = createLogger(stage, { ...job, ...datum });
    await main({ env, log });
  };
  run().catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error('failed', { error: e.name, message: e.message, stack: e.stack });
    // exit now: an inference worker or an open slide must not keep a failed datum's process alive
    process.exit(1);
  });
}
