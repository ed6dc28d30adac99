/**
 * SIGKILL at any moment (during `put file` and `tessella run`), then again: the store opens, nothing half-written
 * is visible, the job completes with the same output as an uninterrupted run. Two processes at once never
 * corrupt the store.
 */
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { filesOf, listCommits, resolveCommit } from '../../engine/pfs/commits.js';
import { listJobs } from '../../engine/pps/jobs.js';
import { Store } from '../../engine/store/store.js';
import { cli, cliSpawn, exited, sleep, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

const SLOW_SPEC = `
pipeline: { name: slow }
input: { pfs: { repo: in, glob: "/*" } }
parallelismSpec: { constant: 2 }
transform:
  cmd: [sh]
  stdin:
    - set -e
    - n=$(basename $in)
    - sleep 0.3
    - cp $in /pfs/out/$n
    - echo "$n done" > /pfs/out/$n.done
`;

/** `gate`: a file each datum waits for, so a test decides when the run may end (however loaded the machine is). */
function setupSlow(home: string, dir: string, count: number, gate?: string): void {
  const files: Record<string, string> = {};
  for (let i = 0; i < count; i++) files[`f${String(i).padStart(2, '0')}`] = `content ${i}\n`.repeat(i + 1);
  writeTree(join(dir, 'input'), files);
  const wait = gate ? `    - while [ ! -e '${gate}' ]; do sleep 0.05; done\n` : '';
  writeFileSync(join(dir, 'slow.yaml'), SLOW_SPEC.replace('    - sleep 0.3\n', `    - sleep 0.3\n${wait}`));
  for (const args of [
    ['create', 'repo', 'in'],
    ['put', 'file', 'in@master:/', '-r', '-f', join(dir, 'input')],
    ['create', 'pipeline', '-f', join(dir, 'slow.yaml')],
  ]) {
    const r = cli(home, args);
    assert.equal(r.code, 0, r.stderr);
  }
}

/** path -> content hash of a repo's head */
function headFiles(home: string, repo: string): Record<string, string> {
  const s = Store.open(home);
  try {
    const c = resolveCommit(s, repo, 'master');
    return Object.fromEntries(filesOf(s, c.seq).map((f) => [f.path, f.hash]));
  } finally {
    s.close();
  }
}

/** Every file of every commit of every repo is a whole blob with the recorded hash and size. */
function assertStoreWhole(home: string): void {
  const s = Store.open(home);
  try {
    const rows = s.db
      .prepare(`SELECT DISTINCT hash, size FROM commit_files UNION SELECT DISTINCT hash, size FROM datum_files`)
      .all() as { hash: string; size: number }[];
    for (const r of rows) {
      const p = s.blobs.pathOf(r.hash);
      assert.ok(existsSync(p), `blob ${r.hash} exists`);
      const buf = readFileSync(p);
      assert.equal(buf.length, r.size);
      assert.equal(createHash('sha256').update(buf).digest('hex'), r.hash);
    }
    assert.equal(s.db.pragma('integrity_check', { simple: true }) as string, 'ok');
  } finally {
    s.close();
  }
}

function countDone(home: string): number {
  const db = new Database(join(home, 'meta.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM datums WHERE state = 'success'`).get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

async function waitFor(cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(25);
  }
}

describe('crash safety and concurrency', () => {
  let t: ReturnType<typeof tempDir>;
  before(() => {
    t = tempDir();
  });
  after(() => t.cleanup());

  test('a SIGKILLed `tessella run`, run again, gives the output of an uninterrupted run', async () => {
    const N = 10;
    const ref = join(t.dir, 'ref');
    const crash = join(t.dir, 'crash');
    setupSlow(join(ref, 'home'), ref, N);
    setupSlow(join(crash, 'home'), crash, N);
    const refRun = cli(join(ref, 'home'), ['run']);
    assert.equal(refRun.code, 0, refRun.stderr);
    const expected = headFiles(join(ref, 'home'), 'slow');
    assert.equal(Object.keys(expected).length, 2 * N);

    const home = join(crash, 'home');
    // kill 1: mid-way, after a few datums finished; kill 2: soon after the resumed run starts
    for (const until of [() => countDone(home) >= 3, () => countDone(home) >= 5]) {
      const child = cliSpawn(home, ['run']);
      await waitFor(until);
      child.kill('SIGKILL');
      await exited(child);
      // the store opens and holds nothing half-written: no output commit yet, every blob whole
      const s = Store.open(home);
      try {
        assert.equal(listCommits(s, 'slow').length, 0);
        assert.equal(listJobs(s, 'slow')[0].state, 'running');
      } finally {
        s.close();
      }
      assertStoreWhole(home);
    }
    const r = cli(home, ['run']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(headFiles(home, 'slow'), expected);
    const s = Store.open(home);
    try {
      const jobs = listJobs(s, 'slow');
      assert.equal(jobs.length, 1, 'the interrupted job was resumed, not replaced');
      assert.equal(jobs[0].state, 'success');
      assert.ok(jobs[0].n_recovered >= 5, `datums done before the kills are kept (${jobs[0].n_recovered})`);
      assert.deepEqual(readdirSync(s.scratchDir), [], 'scratch folders of the killed runs are gone');
    } finally {
      s.close();
    }
    assertStoreWhole(home);
  });

  test('a SIGKILLed `put file` leaves no partial commit; temp files are cleaned; a retry succeeds', async () => {
    const home = join(t.dir, 'put-home');
    const src = join(t.dir, 'put-src');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 48; i++) files[`s${i}/tile.bin`] = Buffer.alloc(1024 * 1024, i);
    writeTree(src, files);
    assert.equal(cli(home, ['create', 'repo', 'big']).code, 0);
    const blobCount = () => {
      const dir = join(home, 'blobs');
      return existsSync(dir) ? readdirSync(dir).reduce((n, d) => n + readdirSync(join(dir, d)).length, 0) : 0;
    };
    // kill points: as the first blobs land, half-way through the blobs, then at fixed times
    const killPoints: (() => Promise<void>)[] = [
      () => waitFor(() => blobCount() >= 1),
      () => waitFor(() => blobCount() >= 24),
      ...[100, 400, 700].map((ms) => () => sleep(ms)),
    ];
    let midway = 0;
    for (const point of killPoints) {
      const child = cliSpawn(home, ['put', 'file', 'big@master:/', '-r', '-f', src], { env: { TESSELLA_FSYNC: '1' } });
      await Promise.race([point(), exited(child)]);
      child.kill('SIGKILL');
      await exited(child);
      const s = Store.open(home);
      try {
        const commits = listCommits(s, 'big');
        for (const c of commits) assert.equal(c.n_files, 48, 'a commit holds every file or does not exist');
        if (commits.length === 0 && blobCount() > 0) midway++;
        assert.deepEqual(
          readdirSync(join(home, 'tmp')).filter((n) => !n.startsWith(`${process.pid}-`)),
          [],
          'temp files of the killed process are removed on open',
        );
        if (commits.length) break;
      } finally {
        s.close();
      }
      assertStoreWhole(home);
    }
    assert.ok(midway >= 1, 'at least one kill landed after some blobs were written and before the commit');
    const r = cli(home, ['put', 'file', 'big@master:/', '-r', '-f', src]);
    assert.equal(r.code, 0, r.stderr);
    const head = headFiles(home, 'big');
    assert.equal(Object.keys(head).length, 48);
    assert.equal(
      head['/s7/tile.bin'],
      createHash('sha256')
        .update(Buffer.alloc(1024 * 1024, 7))
        .digest('hex'),
    );
    assertStoreWhole(home);
  });

  test('two processes at once: puts both land; a second `run` waits, then says which pid holds the store', async () => {
    const dir = join(t.dir, 'conc');
    const home = join(dir, 'home');
    const gate = join(dir, 'gate');
    setupSlow(home, dir, 16, gate);
    writeTree(join(dir, 'more1'), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`a${i}`, `a${i}`])));
    writeTree(join(dir, 'more2'), Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`b${i}`, `b${i}`])));

    const runner = cliSpawn(home, ['run']);
    let runnerErr = '';
    runner.stderr!.on('data', (b) => (runnerErr += b));
    await waitFor(() => runnerErr.includes('job started'));
    // another run: waits up to TESSELLA_LOCK_TIMEOUT, then names the holder
    const second = cli(home, ['run'], { env: { TESSELLA_LOCK_TIMEOUT: '0.5' } });
    assert.equal(second.code, 75, second.stderr);
    assert.match(second.stderr, new RegExp(`held by tessella pid ${runner.pid}`));
    // puts go on meanwhile, concurrently with each other
    const p1 = cliSpawn(home, ['put', 'file', 'in@master:/', '-r', '-f', join(dir, 'more1')]);
    const p2 = cliSpawn(home, ['put', 'file', 'in@master:/', '-r', '-f', join(dir, 'more2')]);
    const [e1, e2] = await Promise.all([exited(p1), exited(p2)]);
    assert.equal(e1.code, 0);
    assert.equal(e2.code, 0);
    writeFileSync(gate, '');
    const { code } = await exited(runner);
    assert.equal(code, 0, runnerErr);
    const s = Store.open(home);
    try {
      const commits = listCommits(s, 'in');
      assert.equal(commits.length, 3);
      assert.equal(commits[0].parent, commits[1].id);
      assert.equal(commits[0].n_files, 56);
    } finally {
      s.close();
    }
    // the runner picked up the puts (they arrived while it ran) or leaves them due for the next run
    const r = cli(home, ['run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(Object.keys(headFiles(home, 'slow')).length, 2 * 56);
    assertStoreWhole(home);
  });
});
