/**
 * Datum processes end with their runner (issue 11, item 8): a real `kill -9` of `tessella run` while datums (and
 * the background children of a shell datum) run; within seconds none of them is left, though no later `run`
 * came to clean up. Then `run` resumes and completes.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { processAlive } from '../../engine/store/proc.js';
import { cli, cliSpawn, exited, sleep, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { assertStoreWhole, heads } from './_faults-helpers.js';

const spec = (pids: string) => `
pipeline: { name: sleepy }
input: { pfs: { repo: in, glob: "/*" } }
parallelismSpec: { constant: 2 }
transform:
  cmd: [sh]
  stdin:
    - n=$(basename $in)
    - sleep 300 &
    - echo $$ $! >> ${pids}/$n
    - if [ -e ${pids}/go ]; then kill $!; cp $in /pfs/out/$n; exit 0; fi
    - wait
`;

/** Running, not a zombie waiting for a parent that does not reap (pid 1 of some containers). */
function running(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

describe('faults: the runner killed', () => {
  let t: ReturnType<typeof tempDir>;
  before(() => {
    t = tempDir();
  });
  after(() => t.cleanup());

  test('kill -9 of `tessella run`: its datum processes and their children end within seconds', async () => {
    const home = join(t.dir, 'home');
    const pids = join(t.dir, 'pids');
    writeTree(join(t.dir, 'input'), { a: 'a', b: 'b' });
    writeTree(pids, { '.keep': '' });
    writeFileSync(join(t.dir, 'sleepy.yaml'), spec(pids));
    for (const args of [
      ['create', 'repo', 'in'],
      ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'input')],
      ['create', 'pipeline', '-f', join(t.dir, 'sleepy.yaml')],
    ]) {
      assert.equal(cli(home, args).code, 0);
    }
    const runner = cliSpawn(home, ['run']);
    // a pid file exists from the shell's open for append, before its line is written: wait for the line's end
    const written = (n: string) => existsSync(join(pids, n)) && readFileSync(join(pids, n), 'utf8').endsWith('\n');
    const started = await until(() => written('a') && written('b'), 60_000);
    assert.ok(started, 'both datums started');
    const procs = ['a', 'b'].flatMap((n) => readFileSync(join(pids, n), 'utf8').trim().split(/\s+/).map(Number));
    assert.equal(procs.length, 4, 'two shells and their two background sleeps');
    for (const p of procs) assert.ok(running(p), `pid ${p} runs`);

    process.kill(runner.pid!, 'SIGKILL');
    await exited(runner);
    const gone = await until(() => procs.every((p) => !running(p)), 10_000);
    assert.ok(gone, `left running after the runner died: ${procs.filter((p) => running(p)).join(', ')}`);

    // the next run resumes the job and completes it
    writeFileSync(join(pids, 'go'), '');
    const r = cli(home, ['run']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(heads(home).sleepy).sort(), ['/a', '/b']);
    assert.deepEqual(readdirSync(join(home, 'scratch')), []);
    assertStoreWhole(home);
  });
});
