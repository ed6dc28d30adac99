/** The machine's GPUs, as the engine gives them to GPU datums. */
import { execFileSync } from 'node:child_process';
import { engineEnv } from '../env.js';

let gpuCache: string[] | undefined;

/** GPU ids: $TESSELLA_GPUS (a count or a list like "0,2"), else one per line of `nvidia-smi -L`. */
export function gpuIds(): string[] {
  const listed = engineEnv().TESSELLA_GPUS;
  if (listed) return listed;
  if (gpuCache) return gpuCache;
  try {
    const out = execFileSync('nvidia-smi', ['-L'], {
      encoding: 'utf8',
      timeout: 10000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    gpuCache = out
      .split('\n')
      .filter((l) => /^GPU \d+/.test(l))
      .map((l) => /^GPU (\d+)/.exec(l)![1]);
  } catch {
    gpuCache = [];
  }
  return gpuCache;
}
