/**
 * A job whose runner died is shown as interrupted by `list job` and `inspect job` (no growing duration), not as
 * running; while its runner lives it is running; the next `run` resumes it. A real `kill -9` of `tessella run`.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { cli, cliSpawn, exited, sleep, writeTree } from './_engine-helpers.js';

const t = tempDir('job-interrupted');
after(() => t.cleanup());

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

test('kill -9 of the runner: list job and inspect job say interrupted; run resumes it', async () => {
  const home = join(t.dir, 'home');
  const marks = join(t.dir, 'marks');
  writeTree(join(t.dir, 'input'), { a: 'a' });
  writeTree(marks, { '.keep': '' });
  writeFileSync(
    join(t.dir, 'slow.yaml'),
    `
pipeline: { name: slow }
input: { pfs: { repo: in, glob: "/*" } }
transform:
  cmd: [sh]
  stdin:
    - if [ -e ${marks}/go ]; then cp $in /pfs/out/; exit 0; fi
    - touch ${marks}/started
    - sleep 300
`,
  );
  for (const args of [
    ['create', 'repo', 'in'],
    ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'input')],
    ['create', 'pipeline', '-f', join(t.dir, 'slow.yaml')],
  ])
    assert.equal(cli(home, args).code, 0);
  const runner = cliSpawn(home, ['run']);
  assert.ok(await until(() => existsSync(join(marks, 'started')), 60_000), 'the datum started');
  const live = cli(home, ['list', 'job', '-o', 'json']);
  assert.equal(JSON.parse(live.stdout.split('\n')[0]).state, 'running', 'a live runner: running');

  process.kill(runner.pid!, 'SIGKILL');
  await exited(runner);
  const table = cli(home, ['list', 'job']);
  assert.equal(table.code, 0, table.stderr);
  const row = table.stdout.split('\n').find((l) => l.startsWith('slow'));
  assert.ok(row, table.stdout);
  assert.match(row, /\sINTERRUPTED\s*$/);
  assert.match(row, /\s-\s/, 'no growing duration');
  const json = JSON.parse(cli(home, ['list', 'job', '-o', 'json']).stdout.split('\n')[0]);
  assert.equal(json.state, 'interrupted');
  assert.match(
    json.reason,
    /its runner \(tessella pid \d+\) ended before the job did; the next `tessella run` resumes it/,
  );
  const inspected = cli(home, ['inspect', 'job', `slow@${json.job.id}`]);
  assert.match(inspected.stdout, /State: INTERRUPTED/);
  assert.match(inspected.stdout, /Duration: -/);

  writeFileSync(join(marks, 'go'), '');
  const again = cli(home, ['run']);
  assert.equal(again.code, 0, again.stderr);
  const done = JSON.parse(cli(home, ['inspect', 'job', `slow@${json.job.id}`, '-o', 'json']).stdout);
  assert.equal(done.state, 'success', 'the same job, resumed');
});
