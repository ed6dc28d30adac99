/**
 * The tessella CLI as a story runs it: from the sources through tsx (no build needed), on one store, with JSON logs
 * and no GPUs, so a story reads the same on any machine.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './dirs.js';

export interface SourceCli {
  /** One command, whatever its exit status. */
  run: (...args: string[]) => SpawnSyncReturns<string>;
  /** One command that must succeed: its stdout (else the assertion names the command and its stderr). */
  ok: (...args: string[]) => string;
}

export function sourceCli(home: string, timeoutMs = 300_000): SourceCli {
  const env = { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json', TESSELLA_GPUS: '' };
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'app', 'cli.ts'), ...args], {
      cwd: projectRoot,
      env,
      encoding: 'utf8',
      timeout: timeoutMs,
    });
  const ok = (...args: string[]) => {
    const r = run(...args);
    assert.equal(r.status, 0, `tessella ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-4000)}`);
    return r.stdout;
  };
  return { run, ok };
}
