/**
 * One datum as one process, as a Pachyderm worker runs it: each try gets a fresh scratch PFS_ROOT, the spec's cmd
 * runs with Pachyderm's variables and the datum's timeout, and the root is removed in the background afterwards.
 * The process cannot write the store and ends with the runner (sandbox.ts).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type Datum, datumEnv } from '../pps/datums.js';
import { ownerPrefix } from '../store/proc.js';
import type { DatumContext } from './context.js';
import type { Executor } from './executor.js';
import { jobEnv } from './job-env.js';
import type { Isolation } from './sandbox.js';
import { rmScratch } from './scratch.js';
import { startProcess } from './spawn.js';
import { checkWorkingDir } from './working-dir.js';

export class ProcessExecutor implements Executor {
  constructor(
    private readonly ctx: DatumContext,
    private readonly gpus: string[],
    private readonly mode: Isolation,
  ) {}

  begin(): string {
    return join(this.ctx.store.scratchDir, `${ownerPrefix}${randomBytes(6).toString('hex')}`);
  }

  /** Starts the datum's process; resolves '' on success, else what went wrong. */
  async exec(datum: Datum, root: string, logFd: number): Promise<string> {
    const { ctx } = this;
    const workingDirProblem = checkWorkingDir(ctx);
    if (workingDirProblem) return workingDirProblem;
    const env = { ...jobEnv(ctx, root, this.gpus), ...datumEnv(datum, root) };
    const proc = startProcess(ctx, root, env, logFd, this.mode);
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

  fail(): void {
    /* the process is gone already: the next try starts its own */
  }

  finish(root: string): void {
    rmScratch(root);
  }
}
