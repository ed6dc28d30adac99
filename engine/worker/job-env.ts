/**
 * The environment of a datum's process: the engine's, the spec's `env`, Pachyderm's job variables. Locally the
 * process inherits the user's whole shell, unlike a Pachyderm container (transform.env and Pachyderm's own), so
 * TESSELLA_SPEC_ENV names which variables came from the spec: a program checking its parameters by name checks
 * those, not a user's unrelated `export`.
 */
import type { DatumContext } from './context.js';
import { rewritePfs } from './spawn.js';

/** What every process of a job's datums gets: the engine's environment, the spec's env, Pachyderm's job variables. */
export function jobEnv(ctx: DatumContext, root: string, gpus: string[]): Record<string, string> {
  const env = preJobEnv(ctx, root, gpus);
  env.PACH_JOB_ID = ctx.job.id;
  env.PACH_OUTPUT_COMMIT_ID = ctx.job.id;
  return env;
}

/** The same without the job's ids: a batch process started ahead of its job. */
export function preJobEnv(ctx: Pick<DatumContext, 'spec'>, root: string, gpus: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries((ctx.spec.transform.env ?? {}) as Record<string, string>))
    env[k] = rewritePfs(String(v), root);
  env.TESSELLA_SPEC_ENV = Object.keys(ctx.spec.transform.env ?? {}).join(',');
  env.PPS_PIPELINE_NAME = ctx.spec.pipeline.name;
  env.PFS_ROOT = root;
  if (gpus.length) env.CUDA_VISIBLE_DEVICES = gpus.join(',');
  return env;
}
