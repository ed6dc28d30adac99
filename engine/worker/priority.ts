/**
 * CPU priority of the processes started ahead of their jobs (warm-workers.ts). While it waits, such a process runs
 * at a lower priority (niceness + AHEAD_NICENESS), so its start-up takes only cores the running jobs leave idle and
 * does not slow the job on the critical path; when a job takes it, every thread of its process group goes back to
 * the engine's own priority. Linux keeps a niceness per thread (threads inherit it from the thread that makes them),
 * hence every task of every process of the group. And where the kernel groups processes by session for the
 * scheduler (autogroup, the default on desktop and server kernels), niceness only ranks threads within their own
 * session: a process started in a session of its own (detached) competes as a whole with the others, so its
 * session's niceness (/proc/PID/autogroup) is set too. Only where the engine may raise a priority back (root):
 * elsewhere a process would keep the lower one for its whole job, so nothing is lowered.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { statFields } from '../store/proc.js';

const AHEAD_NICENESS = 10;

/** Whether processes started ahead can be lowered (and raised back when taken). */
export function canLowerAhead(): boolean {
  return process.platform === 'linux' && process.getuid?.() === 0;
}

/** Lowers the priority of the process group led by `pid` (started ahead of its job); false when it could not. */
export function lowerGroup(pid: number): boolean {
  const lowered = setGroupPriority(pid, Math.min(19, getPriority() + AHEAD_NICENESS));
  setSessionNiceness(pid, Math.min(19, ownSessionNiceness() + AHEAD_NICENESS));
  return lowered;
}

/** Gives the process group led by `pid` the engine's own priority back (its job took it). */
export function restoreGroup(pid: number): boolean {
  setSessionNiceness(pid, ownSessionNiceness());
  return setGroupPriority(pid, getPriority());
}

/** The niceness of the engine's own scheduling session (autogroup); 0 where the kernel has none, and in the root
 * session, whose file is empty. */
function ownSessionNiceness(): number {
  try {
    return Number(/nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Sets the niceness of the scheduling session (autogroup) `pid` leads; nothing where the kernel has none. */
function setSessionNiceness(pid: number, niceness: number): void {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(niceness));
  } catch {
    // no autogroup (disabled, another kernel), or the process is gone
  }
}

function setGroupPriority(leader: number, niceness: number): boolean {
  let done = false;
  for (const proc of groupMembers(leader)) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${proc}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const task of tasks) {
      try {
        setPriority(Number(task), niceness);
        done = true;
      } catch {
        // a thread that ended meanwhile, or no permission: the others still get it
      }
    }
  }
  return done;
}

/** The processes whose process group is `leader`'s (the stage's cmd under its sandbox wrapper). */
function groupMembers(leader: number): number[] {
  const out = [leader];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === leader) continue;
    if (Number(statFields(pid)?.[2]) === leader) out.push(pid);
  }
  return out;
}
