/** Process liveness, robust to pid reuse where /proc tells a process's start time (Linux). */
import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/PID/stat after the command name, from field 3 (state) on: index 0 is the state, 2 the process
 * group, 19 the start time. Undefined where there is no such process (or no /proc).
 */
export function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields resume after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The kernel's start time of a process (clock ticks since boot), or '' where unknown. */
export function processStartTime(pid: number): string {
  return statFields(pid)?.[19] ?? ''; // field 22 overall
}

/** Whether `pid` is a live process and, when `startTime` is known, the same one that was recorded. */
export function processAlive(pid: number, startTime = ''): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startTime) {
    const now = processStartTime(pid);
    if (now && now !== startTime) return false;
  }
  return true;
}

export const selfStartTime = processStartTime(process.pid);

/**
 * A name prefix for temp and scratch entries that identifies this process beyond its pid (pids are reused):
 * `<pid>-<start time>-`. ownerAlive() tells whether the process that made such a name is still running.
 */
export const ownerPrefix = `${process.pid}-${selfStartTime || '0'}-`;

export function ownerAlive(name: string): boolean {
  const [pid, start] = name.split('-');
  if (Number(pid) === process.pid && (start === selfStartTime || start === '0')) return true;
  // Older names carried the pid alone: their second part is random hex, not a start time.
  return processAlive(Number(pid), /^\d+$/.test(start ?? '') && start !== '0' ? start : '');
}
