/**
 * The datum processes this process started (each leads its own process group), and whether `tessella run` was
 * interrupted: on Ctrl-C every group is killed and no new datum starts.
 */

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
