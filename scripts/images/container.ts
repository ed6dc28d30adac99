/**
 * One command run in an image as Pachyderm's worker runs a stage: as the image's user (or the one given), in
 * /app, with the datum's folder at /pfs and the datum's variables, nothing else of this machine.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

export type Builder = 'docker' | 'buildah';

export interface RunResult {
  status: number | null;
  output: string;
  seconds: number;
}

export interface ImageRunner {
  run(pfsDir: string, env: Record<string, string>, cmd: string[], user?: string): RunResult;
  /** The same command, not waited for (a stage under datum batching, served from this machine's loopback). */
  start(pfsDir: string, env: Record<string, string>, cmd: string[]): ChildProcess;
  close(): void;
}

function timed(command: string, args: string[]): RunResult {
  const t0 = performance.now();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${command}: ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}`, seconds: (performance.now() - t0) / 1000 };
}

function envArgs(flag: string, env: Record<string, string>): string[] {
  return Object.entries(env).flatMap(([k, v]) => [flag, `${k}=${v}`]);
}

/** A runner for `image`: one working container for buildah (made once), `docker run --rm` per command for docker. */
export function imageRunner(builder: Builder, image: string): ImageRunner {
  if (builder === 'docker') {
    const args = (pfsDir: string, env: Record<string, string>, cmd: string[], user?: string, network = 'none') => [
      'run',
      '--rm',
      '--network',
      network,
      '-w',
      '/app',
      '-v',
      `${pfsDir}:/pfs`,
      ...(user ? ['--user', user] : []),
      ...envArgs('-e', env),
      image,
      ...cmd,
    ];
    return {
      run: (pfsDir, env, cmd, user) => timed('docker', args(pfsDir, env, cmd, user)),
      // the worker's port is on this machine's loopback
      start: (pfsDir, env, cmd) => spawn('docker', args(pfsDir, env, cmd, undefined, 'host'), { stdio: 'pipe' }),
      close: () => {},
    };
  }
  const from = spawnSync('buildah', ['from', '--pull=never', image], { encoding: 'utf8' });
  if (from.status !== 0) throw new Error(`buildah from ${image}: ${from.stderr.trim()}`);
  const ctr = from.stdout.trim().split('\n').at(-1)!;
  const args = (pfsDir: string, env: Record<string, string>, cmd: string[], user?: string) => [
    // (chroot isolation shares this machine's network: buildah allows no other with it)
    'run',
    '--isolation',
    'chroot',
    '--workingdir',
    '/app',
    '-v',
    `${pfsDir}:/pfs`,
    ...(user ? ['--user', user] : []),
    ...envArgs('--env', env),
    ctr,
    '--',
    ...cmd,
  ];
  return {
    run: (pfsDir, env, cmd, user) => timed('buildah', args(pfsDir, env, cmd, user)),
    start: (pfsDir, env, cmd) => spawn('buildah', args(pfsDir, env, cmd), { stdio: 'pipe' }),
    close: () => {
      spawnSync('buildah', ['rm', ctr], { stdio: 'ignore' });
    },
  };
}
