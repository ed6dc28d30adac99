/**
 * Every stage crashes the same way (shared/stage-main.ts): one JSON line at level error, event `failed`, with the
 * error's name, message and stack, and exit code 1, so the engine retries the datum and its log says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot, tempDir } from '../helpers/dirs.js';

const stagesDir = join(projectRoot, 'stages');
const STAGES = readdirSync(stagesDir).filter((s) => existsSync(join(stagesDir, s, 'main.ts')));

function runMain(stage: string, env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', stage, 'main.ts')], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH ?? '', TESSELLA_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

test('every stage, given no inputs, logs one crash line with the stack and exits 1', async () => {
  assert.ok(STAGES.length >= 9, `stages found: ${STAGES.join(', ')}`);
  const tmp = tempDir('crash');
  try {
    for (const stage of STAGES) {
      const r = await runMain(stage, { PFS_ROOT: tmp.dir, PACH_DATUM_ID: 'd1' });
      assert.equal(r.status, 1, `${stage}: exit ${r.status}\n${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      const last = JSON.parse(lines[lines.length - 1]) as Record<string, string>;
      assert.equal(last.level, 'error', stage);
      assert.equal(last.component, stage);
      assert.equal(last.event, 'failed', stage);
      assert.equal(last.datum, 'd1', `${stage}: the crash line carries the datum`);
      assert.match(last.error, /Error$/, stage);
      assert.ok(last.message.length > 0, stage);
      const firstLine = `${last.error}: ${last.message.split('\n')[0]}`;
      assert.ok(last.stack.startsWith(firstLine), `${stage}: stack ${last.stack}`);
      assert.match(last.stack, /\n\s+at /, `${stage}: the stack has frames`);
    }
  } finally {
    tmp.cleanup();
  }
});
