/** The folder a datum's process starts in: the spec's `workingDir`, read against the app's folder (app-dir.ts). */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { appDir } from '../app-dir.js';
import type { PipelineSpec } from '../pps/spec/pipeline-spec.js';

/** Pachyderm specs say `/pfs/...`; locally each datum has its own root. */
export function workingDirFor(spec: PipelineSpec): string {
  const app = appDir();
  const wd = spec.transform.workingDir as string | undefined;
  if (!wd || wd === '/app') return app;
  if (wd.startsWith('/app/')) return join(app, wd.slice(5));
  return resolve(app, wd);
}

/** Why a datum cannot start in its working folder, if it cannot. */
export function checkWorkingDir(ctx: { workingDir: string }): string | undefined {
  if (!existsSync(ctx.workingDir) || !statSync(ctx.workingDir).isDirectory())
    return `workingDir ${ctx.workingDir} does not exist`;
  return undefined;
}
