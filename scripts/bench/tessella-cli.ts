/**
 * The built `tessella` CLI as a benchmark calls it: one store, JSON logs, stdout returned, a failure thrown with its
 * stderr. `root`: the checkout whose CLI runs (another built checkout for a before/after comparison); default this one.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { appDir } from '../../engine/app-dir.js';

export function tessella(home: string, args: string[], root = appDir()): string {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'tessella.js'), ...args], {
    cwd: root,
    env: { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json' },
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0) throw new Error(`tessella ${args.join(' ')}: exit ${r.status}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}
