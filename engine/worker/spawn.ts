/**
 * Starting a datum's process: the spec's cmd (with `/pfs` rewritten to the datum's root) under the sandbox
 * wrapper, leading its own process group, its exit turned into '' or what went wrong.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTime } from '../store/proc.js';
import { active } from './children.js';
import type { DatumContext } from './context.js';
import { type Isolation, SETUP_FAILED, wrapCommand } from './sandbox.js';

export function rewritePfs(text: string, root: string): string {
  return text.replace(/(^|[^\w./-])\/pfs(?=\/|$|[^\w.-])/g, (_m, pre: string) => pre + root);
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
