/** Helpers for the engine's tests: the CLI as a process, a silent logger. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Logger } from '../../shared/log.js';
import { projectRoot } from '../helpers/dirs.js';

export { projectRoot };
export const cliPath = join(projectRoot, 'app', 'cli.ts');
/** tsx's loader by absolute URL, so the CLI starts from any working directory */
const tsx = import.meta.resolve('tsx');

export const quiet = new Logger('test', {}, { isTTY: false, write: () => undefined });

/** Collects log events (JSON) for assertions. */
export function recordingLogger(): { log: Logger; events: Record<string, unknown>[] } {
  const events: Record<string, unknown>[] = [];
  return { events, log: new Logger('test', {}, { isTTY: false, write: (l) => void events.push(JSON.parse(l)) }) };
}

export function cliEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json', ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tessella ARGS` (the TypeScript sources through tsx) and waits for it. */
export function cli(
  home: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; input?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, ['--import', tsx, cliPath, ...args], {
    cwd: opts.cwd ?? projectRoot,
    env: cliEnv(home, opts.env),
    encoding: 'utf8',
    input: opts.input,
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `tessella ARGS` without waiting. */
export function cliSpawn(
  home: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): ChildProcess {
  return spawn(process.execPath, ['--import', tsx, cliPath, ...args], {
    cwd: opts.cwd ?? projectRoot,
    env: cliEnv(home, opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Writes files: { 'a/b.txt': 'content' } under dir. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): void {
  for (const [p, content] of Object.entries(files)) {
    const full = join(dir, p);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
