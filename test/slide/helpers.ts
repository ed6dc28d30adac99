/** Shared by the slide and tile-stage tests: where fixtures are, running a stage as the engine does. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { projectRoot, sharedDir } from '../helpers/dirs.js';

export { projectRoot };
export const fixturesDir = join(sharedDir, 'fixtures', 'slides');
export const fixture = (name: string) => join(fixturesDir, name);

/** `{ skip: reason }` when ../shared's slides are absent, for node:test options. */
export const needsFixtures = existsSync(fixturesDir)
  ? {}
  : { skip: `fixture slides not found at ${fixturesDir} (../shared is provided beside the checkout)` };

export const hasOpenSlideTools = spawnSync('openslide-write-png', ['--help'], { stdio: 'ignore' }).error === undefined;

/** A slides repo as the engine mounts it: `<pfsRoot>/slides/<id>/<file>` (the file linked, not copied). */
export function mountSlide(pfsRoot: string, id: string, file: string): string {
  const dir = join(pfsRoot, 'slides', id);
  mkdirSync(dir, { recursive: true });
  symlinkSync(file, join(dir, basename(file)));
  return dir;
}

/** Run `stages/<stage>/main.ts` as a child process with the stage contract's variables (several may run at once). */
export function runStage(
  stage: string,
  env: Record<string, string>,
): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', stage, 'main.ts')], {
      cwd: projectRoot,
      env: { ...process.env, TESSELLA_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, stderr }));
  });
}
