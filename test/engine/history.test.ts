/**
 * The store at cohort scale: commits stored as diffs, jobs that plan only what changed, and reclaiming space.
 * - incremental plans agree with the full computation over random histories, for every input shape;
 * - gc after a killed run and a deleted repo removes exactly the unreferenced blobs; heads read back the same;
 * - squash / delete commit keep provenance consistent and refuse what a head needs;
 * - a store of the previous format is upgraded in place; a newer one is refused;
 * - list commit / list datum page.
 */
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { computeDatums, datumHash } from '../../engine/pps/datums.js';
import { datumFiles, listDatums, listJobs, type JobInput } from '../../engine/pps/jobs.js';
import { deleteCommit, gc, squashCommit } from '../../engine/pfs/reclaim.js';
import { createRepo, deleteRepo } from '../../engine/pfs/repos.js';
import { deleteFiles, putFiles } from '../../engine/pfs/put-files.js';
import { filesOf, listCommits, resolveCommit, treeOf } from '../../engine/pfs/commits.js';
import { deletePipeline, getPipeline, putPipelines } from '../../engine/pps/pipelines.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { treeFiles } from '../../engine/store/files.js';
import { Store } from '../../engine/store/store.js';
import { mulberry32 } from '../../shared/random.js';
import { cli, cliSpawn, exited, quiet, recordingLogger, sleep, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

let t: ReturnType<typeof tempDir>;
let n = 0;

before(() => {
  t = tempDir();
});
after(() => t.cleanup());

function freshStore(): Store {
  return Store.open(join(t.dir, `home-${n++}`));
}

async function put(store: Store, repo: string, files: Record<string, string>): Promise<void> {
  const dir = join(t.dir, `put-${n++}`);
  writeTree(dir, files);
  await putFiles(
    store,
    repo,
    'master',
    Object.keys(files).map((p) => ({ local: join(dir, p), path: '/' + p })),
  );
  rmSync(dir, { recursive: true, force: true });
}

/** path -> content of a commit. */
function contents(store: Store, repo: string, ref = 'master'): Record<string, string> {
  const c = resolveCommit(store, repo, ref);
  return Object.fromEntries(
    filesOf(store, c.seq).map((f) => [f.path, readFileSync(store.blobs.pathOf(f.hash), 'utf8')]),
  );
}

// Every datum writes one file named by its id holding its inputs' paths and contents: outputs follow inputs.
const ECHO = `transform:
  cmd: [sh]
  stdin:
    - "cd $PFS_ROOT && find . -path ./out -prune -o -type f -print | LC_ALL=C sort | while read f; do echo \\"$f\\"; cat \\"$f\\"; done > out/$PACH_DATUM_ID"`;

const SHAPES: Record<string, string> = {
  pfs: `input: { pfs: { repo: a, glob: "/*" } }`,
  cross: `input: { cross: [ { pfs: { repo: a, glob: "/*" } }, { pfs: { repo: b, glob: "/m" } } ] }`,
  join: `input: { join: [ { pfs: { repo: a, glob: "/(*)", joinOn: "$1" } }, { pfs: { repo: b, glob: "/(*)", joinOn: "$1", outerJoin: true } } ] }`,
  group: `input: { group: [ { pfs: { repo: a, glob: "/(*)/*", groupBy: "$1" } }, { pfs: { repo: b, glob: "/(*)", groupBy: "$1" } } ] }`,
  joinSuffix: `input: { join: [ { pfs: { repo: a, glob: "/(*)", joinOn: "$1", outerJoin: true } }, { pfs: { repo: b, glob: "/(*).m", joinOn: "$1" } } ] }`,
  union: `input: { union: [ { pfs: { repo: a, name: x, glob: "/*" } }, { pfs: { repo: b, name: y, glob: "/*/*" } } ] }`,
};

describe('history at scale', () => {
  for (const [shape, input] of Object.entries(SHAPES)) {
    test(`incremental plans equal the full computation over a random history (${shape})`, async () => {
      const store = freshStore();
      const rand = mulberry32(shape.length * 7919);
      const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
      createRepo(store, 'a');
      createRepo(store, 'b');
      await put(store, 'a', { 's1/x': '1', 's2/x': '2', 's2/y': '3' });
      await put(store, 'b', { m: 'model', s1: 'one', s3: 'three' });
      putPipelines(store, parseSpecs(`pipeline: { name: p }\n${input}\n${ECHO}\n`, `${shape}.yaml`));
      const { log, events } = recordingLogger();
      for (let step = 0; step < 14; step++) {
        const [r] = await runJobs(store, { log });
        if (r) assert.equal(r.state, 'success', r.reason);
        // what the job's datum set is, against every datum computed and hashed from its input commits
        const job = listJobs(store, 'p', 1)[0];
        const inputs = JSON.parse(job.inputs) as JobInput[];
        const want = computeDatums(
          parseSpecs(`pipeline: { name: p }\n${input}\n${ECHO}\n`, 'x.yaml')[0].input,
          (repo, branch) => {
            const c = inputs.find((i) => i.repo === repo && i.branch === branch)!;
            const commit = resolveCommit(store, repo, c.commit);
            return { repo, branch, commit: commit.id, files: treeFiles(store, treeOf(store, commit)) };
          },
        );
        const salt = getPipeline(store, 'p')!.salt;
        const got = listDatums(store, job.id);
        assert.deepEqual(
          got.map((d) => [d.id, d.hash]),
          want.map((d) => [d.id, datumHash(d, salt)]).sort((x, y) => (x[0] < y[0] ? -1 : 1)),
          `step ${step}: the job's datums are those of its inputs`,
        );
        assert.equal(job.n_total, want.length, `step ${step}: the job counts its datums`);
        // the output commit holds exactly the current datums' outputs
        const out: Record<string, string> = {};
        for (const d of got)
          for (const f of datumFiles(store, job.id, d.id))
            out[f.path] = readFileSync(store.blobs.pathOf(f.hash), 'utf8');
        assert.deepEqual(got.length ? contents(store, 'p') : {}, out, `step ${step}: output = the datums' outputs`);
        // and each output follows its inputs (a stale reuse would show old contents)
        for (const d of want) {
          const body = readFileSync(store.blobs.pathOf(datumFiles(store, job.id, d.id)[0].hash), 'utf8');
          for (const i of d.inputs)
            for (const f of i.files) assert.ok(body.includes(readFileSync(store.blobs.pathOf(f.hash), 'utf8')));
        }
        // a random change to one repo, or both at once (crossed inputs changing together take the full pass)
        const repo = step % 5 === 4 ? 'both' : pick(['a', 'b']);
        for (const r2 of repo === 'both' ? ['a', 'b'] : [repo]) {
          const head = contents(store, r2);
          const paths = Object.keys(head);
          const op = rand();
          const id = `s${1 + Math.floor(rand() * 5)}`;
          if (op < 0.45)
            await put(
              store,
              r2,
              r2 === 'a'
                ? { [`${id}/${pick(['x', 'y', 'z'])}`]: `v${step}` }
                : { [pick([id, 'm', `${id}.m`])]: `w${step}` },
            );
          else if (op < 0.75 && paths.length > 1) deleteFiles(store, r2, 'master', [pick(paths)]);
          else if (paths.length) await put(store, r2, { [pick(paths).slice(1)]: `changed ${step}` });
        }
      }
      const modes = events.filter((e) => e.event === 'job started').map((e) => e.plan);
      assert.ok(modes.includes('incremental'), `some jobs planned incrementally (${modes.join(',')})`);
      store.close();
    });
  }

  test('one new file into a repo of many costs rows for that file only', async () => {
    const store = freshStore();
    createRepo(store, 'in');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`d${i}/f`] = `f${i}`;
    await put(store, 'in', files);
    putPipelines(
      store,
      parseSpecs(
        `pipeline: { name: copy }\ninput: { pfs: { repo: in, glob: "/*" } }\ntransform: { cmd: [sh], stdin: ["cp -r $in /pfs/out/"] }\n`,
        'c.yaml',
      ),
    );
    await runJobs(store, { log: quiet });
    const rows = () => ({
      files: (store.db.prepare(`SELECT count(*) AS n FROM files`).get() as { n: number }).n,
      datums: (store.db.prepare(`SELECT count(*) AS n FROM datums`).get() as { n: number }).n,
      outputs: (store.db.prepare(`SELECT count(*) AS n FROM datum_files`).get() as { n: number }).n,
    });
    const before = rows();
    await put(store, 'in', { 'new/f': 'new' });
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.processed, 1);
    assert.equal(r.skipped, 300);
    // one file version in `in`, one in `copy`; one datum version; one output row
    assert.deepEqual(rows(), { files: before.files + 2, datums: before.datums + 1, outputs: before.outputs + 1 });
    assert.equal(resolveCommit(store, 'copy', 'master').n_files, 301);
    store.close();
  });

  test('gc after a killed run and a deleted repo removes exactly the unreferenced blobs; heads read back the same', async () => {
    const home = join(t.dir, `home-${n++}`);
    const input: Record<string, string> = {};
    for (let i = 0; i < 12; i++) input[`f${String(i).padStart(2, '0')}`] = `content ${i}\n`.repeat(i + 1);
    writeTree(join(t.dir, 'gc-in'), input);
    writeFileSync(
      join(t.dir, 'slow.yaml'),
      `pipeline: { name: slow }\ninput: { pfs: { repo: in, glob: "/*" } }\ntransform:\n  cmd: [sh]\n  stdin: ["sleep 0.3", "cp $in /pfs/out/", "echo done > /pfs/out/$(basename $in).done"]\n`,
    );
    for (const args of [
      ['create', 'repo', 'in'],
      ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'gc-in')],
      ['create', 'pipeline', '-f', join(t.dir, 'slow.yaml')],
    ]) {
      assert.equal(cli(home, args).code, 0);
    }
    const child = cliSpawn(home, ['run']);
    await sleep(1500);
    child.kill('SIGKILL');
    await exited(child);
    // a repo with content of its own, then deleted
    let store = Store.open(home);
    createRepo(store, 'junk');
    await put(store, 'junk', { 'only-here': 'junk content', f00: 'content 0\n' });
    deleteRepo(store, 'junk');
    const heads: Record<string, Record<string, string>> = {};
    for (const repo of ['in', 'slow']) {
      try {
        heads[repo] = contents(store, repo);
      } catch {
        /* the killed run made no commit yet */
      }
    }
    // what is referenced, read through the public API: every file of every commit, every datum output
    const referenced = new Set<string>();
    for (const repo of ['in', 'slow']) {
      for (const c of listCommits(store, repo)) for (const f of filesOf(store, c.seq)) referenced.add(f.hash);
      for (const j of listJobs(store, repo === 'slow' ? 'slow' : undefined))
        for (const d of listDatums(store, j.id)) for (const f of datumFiles(store, j.id, d.id)) referenced.add(f.hash);
    }
    const onDisk = () => new Set(readdirSync(store.blobs.dir).flatMap((s) => readdirSync(join(store.blobs.dir, s))));
    const expectGone = [...onDisk()].filter((h) => !referenced.has(h)).sort();
    assert.ok(expectGone.includes(sha('junk content')), 'the deleted repo left its blob');
    const r = await gc(store, { log: quiet });
    assert.equal(r.blobs_removed, expectGone.length);
    for (const h of expectGone) assert.equal(existsSync(store.blobs.pathOf(h)), false, `blob ${h} removed`);
    for (const h of referenced) assert.equal(existsSync(store.blobs.pathOf(h)), true, `blob ${h} kept`);
    assert.deepEqual(readdirSync(store.scratchDir), [], 'scratch of the killed run removed');
    for (const [repo, files] of Object.entries(heads)) assert.deepEqual(contents(store, repo), files);
    // the killed job still completes after gc, with every file
    const [done] = await runJobs(store, { log: quiet });
    assert.equal(done.state, 'success', done.reason);
    assert.equal(Object.keys(contents(store, 'slow')).length, 24);
    // and a second gc finds nothing
    assert.equal((await gc(store, { log: quiet })).blobs_removed, 0);
    store.close();
    store = Store.open(home);
    store.close();
  });

  test('squash and delete commit: provenance stays consistent; what a head needs is refused', async () => {
    const store = freshStore();
    createRepo(store, 'in');
    putPipelines(
      store,
      parseSpecs(
        `pipeline: { name: copy }\ninput: { pfs: { repo: in, glob: "/*" } }\ntransform: { cmd: [sh], stdin: ["cp $in /pfs/out/"] }\n`,
        'c.yaml',
      ),
    );
    const ids: string[] = [];
    for (const [i, body] of ['old f', 'new f', 'g'].entries()) {
      await put(store, 'in', i === 2 ? { g: body } : { f: body });
      await runJobs(store, { log: quiet });
      ids.push(resolveCommit(store, 'in', 'master').id);
    }
    const heads = { in: contents(store, 'in'), copy: contents(store, 'copy') };
    const oldBlob = sha('old f');

    assert.throws(() => squashCommit(store, 'in', ids[2]), /has no child commit/);
    const squashed = squashCommit(store, 'in', ids[0]);
    assert.equal(squashed.length, 2, 'the input commit and the output commit made from it');
    assert.deepEqual({ in: contents(store, 'in'), copy: contents(store, 'copy') }, heads);
    assert.equal(listCommits(store, 'in').length, 2);
    assert.equal(listCommits(store, 'copy').length, 2);
    assert.equal(resolveCommit(store, 'in', ids[1]).parent, null);
    assertProvenanceWhole(store);
    const r = await gc(store, { log: quiet });
    assert.ok(
      r.blobs_removed >= 1 && !existsSync(store.blobs.pathOf(oldBlob)),
      'the content only the squashed commits held is freed',
    );

    const deleted = deleteCommit(store, 'in', ids[2]);
    assert.equal(deleted.length, 2);
    assert.deepEqual(contents(store, 'in'), { '/f': 'new f' });
    assert.deepEqual(contents(store, 'copy'), { '/f': 'new f' });
    assertProvenanceWhole(store);
    assert.deepEqual(await runJobs(store, { log: quiet }), [], 'nothing is due: the heads are as after the second run');
    await put(store, 'in', { h: 'h' });
    const [next] = await runJobs(store, { log: quiet });
    assert.deepEqual([next.processed, next.skipped], [1, 1]);
    assert.deepEqual(contents(store, 'copy'), { '/f': 'new f', '/h': 'h' });
    assert.throws(() => deleteCommit(store, 'in', ids[1]), /has child commits/);
    store.close();
  });

  test('list commit and list datum page', async () => {
    const store = freshStore();
    createRepo(store, 'in');
    for (let i = 0; i < 5; i++) await put(store, 'in', { [`f${i}`]: `${i}` });
    const all = listCommits(store, 'in');
    const page1 = listCommits(store, 'in', 'master', 2);
    const page2 = listCommits(store, 'in', 'master', 2, { after: page1[1].id });
    assert.deepEqual(
      [...page1, ...page2].map((c) => c.id),
      all.slice(0, 4).map((c) => c.id),
    );
    putPipelines(
      store,
      parseSpecs(
        `pipeline: { name: copy }\ninput: { pfs: { repo: in, glob: "/*" } }\ntransform: { cmd: [sh], stdin: ["cp $in /pfs/out/"] }\n`,
        'c.yaml',
      ),
    );
    const [r] = await runJobs(store, { log: quiet });
    const ds = listDatums(store, r.job);
    const p1 = listDatums(store, r.job, { limit: 3 });
    const p2 = listDatums(store, r.job, { limit: 3, after: p1[2].id });
    assert.deepEqual(
      [...p1, ...p2].map((d) => d.id),
      ds.map((d) => d.id),
    );
    deletePipeline(store, 'copy');
    store.close();
  });

  test('a store of the previous format is upgraded in place: files, jobs and skipping carry over', async () => {
    const home = join(t.dir, `home-${n++}`);
    const blobs = writeV1Store(home);
    const store = Store.open(home);
    assert.equal(
      (store.db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string }).value,
      '2',
    );
    assert.deepEqual(contents(store, 'in'), { '/a': 'A', '/b': 'B2' });
    assert.deepEqual(contents(store, 'in', 'master^'), { '/a': 'A', '/b': 'B' });
    assert.deepEqual(contents(store, 'copy'), { '/a': 'A', '/b': 'B2' });
    const job = listJobs(store, 'copy', 1)[0];
    assert.deepEqual(
      listDatums(store, job.id).map((d) => d.state),
      ['success', 'success'],
    );
    // a new file: only it runs; the upgraded datums are skipped
    await put(store, 'in', { c: 'C' });
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'success', r.reason);
    assert.deepEqual([r.processed, r.skipped], [1, 2]);
    assert.deepEqual(contents(store, 'copy'), { '/a': 'A', '/b': 'B2', '/c': 'C' });
    assert.deepEqual(
      blobs.map((h) => existsSync(store.blobs.pathOf(h))),
      [true, true, true],
    );
    store.close();
  });

  test('a store newer than this tessella is refused, saying so', () => {
    const home = join(t.dir, `home-${n++}`);
    Store.open(home).close();
    const db = new Database(join(home, 'meta.sqlite'));
    db.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run();
    db.close();
    assert.throws(() => Store.open(home), /schema 99, newer than this tessella \(2\): use a newer tessella/);
  });
});

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function assertProvenanceWhole(store: Store): void {
  const dangling = store.db
    .prepare(
      `SELECT p.commit_id, p.source FROM provenance p WHERE NOT EXISTS (SELECT 1 FROM commits c WHERE c.id = p.source) OR NOT EXISTS (SELECT 1 FROM commits c WHERE c.id = p.commit_id)`,
    )
    .all();
  assert.deepEqual(dangling, [], 'every provenance row names existing commits');
  const orphans = store.db
    .prepare(
      `SELECT id FROM commits c WHERE parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM commits p WHERE p.id = c.parent)`,
    )
    .all();
  assert.deepEqual(orphans, [], 'every parent exists');
}

/**
 * A store as version 1 wrote it: repo `in` with two commits (a, b; then b changed), pipeline `copy` (glob `/*`)
 * with two jobs, the second skipping `/a`.
 */
function writeV1Store(home: string): string[] {
  const store = Store.open(home); // makes the folders; its tables are replaced below
  const hashes = ['A', 'B', 'B2'].map((s) => {
    const h = sha(s);
    const p = store.blobs.pathOf(h);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, s, { mode: 0o444 });
    return h;
  });
  store.close();
  rmSync(join(home, 'meta.sqlite'), { force: true });
  rmSync(join(home, 'meta.sqlite-wal'), { force: true });
  rmSync(join(home, 'meta.sqlite-shm'), { force: true });
  const db = new Database(join(home, 'meta.sqlite'));
  db.exec(V1_SCHEMA);
  const [hA, hB, hB2] = hashes;
  const spec = JSON.stringify(
    parseSpecs(
      `pipeline: { name: copy }\ninput: { pfs: { repo: in, glob: "/*" } }\ntransform: { cmd: [sh], stdin: ["cp $in /pfs/out/"] }\n`,
      'c.yaml',
    )[0],
  );
  const t0 = '2026-01-01T00:00:00.000Z';
  db.exec(`INSERT INTO meta VALUES ('schema_version', '1')`);
  db.prepare(`INSERT INTO repos VALUES ('in', ?, '', NULL), ('copy', ?, 'output of pipeline copy', 'copy')`).run(
    t0,
    t0,
  );
  db.prepare(`INSERT INTO pipelines VALUES ('copy', ?, NULL, 'salt1', 1, ?, ?)`).run(spec, t0, t0);
  db.prepare(`INSERT INTO branches VALUES ('in', 'master', 'c2'), ('copy', 'master', 'j2')`).run();
  const commit = db.prepare(
    `INSERT INTO commits (seq, id, repo, branch, parent, created, origin, job, description, n_files, size_bytes) VALUES (?, ?, ?, 'master', ?, ?, ?, ?, '', 2, ?)`,
  );
  commit.run(1, 'c1', 'in', null, t0, 'user', null, 2);
  commit.run(2, 'j1', 'copy', null, t0, 'job', 'j1', 2);
  commit.run(3, 'c2', 'in', 'c1', t0, 'user', null, 3);
  commit.run(4, 'j2', 'copy', 'j1', t0, 'job', 'j2', 3);
  const cf = db.prepare(`INSERT INTO commit_files VALUES (?, ?, ?, ?)`);
  for (const seq of [1, 2]) {
    cf.run(seq, '/a', hA, 1);
    cf.run(seq, '/b', hB, 1);
  }
  for (const seq of [3, 4]) {
    cf.run(seq, '/a', hA, 1);
    cf.run(seq, '/b', hB2, 2);
  }
  db.prepare(`INSERT INTO provenance VALUES ('j1', 'in', 'master', 'c1'), ('j2', 'in', 'master', 'c2')`).run();
  const job = db.prepare(
    `INSERT INTO jobs (seq, id, pipeline, version, salt, state, inputs, created, n_total) VALUES (?, ?, 'copy', 1, 'salt1', 'success', ?, ?, 2)`,
  );
  job.run(1, 'j1', JSON.stringify([{ repo: 'in', branch: 'master', commit: 'c1' }]), t0);
  job.run(2, 'j2', JSON.stringify([{ repo: 'in', branch: 'master', commit: 'c2' }]), t0);
  // the datums' ids and hashes as the engine computes them (they did not change between versions)
  const dat = (commitId: string, files: Record<string, string>) =>
    computeDatums(parseSpecs(spec, 'c.json')[0].input, () => ({
      repo: 'in',
      branch: 'master',
      commit: commitId,
      files: Object.entries(files).map(([path, hash]) => ({ path, hash, size: 1 })),
    }));
  const d1 = dat('c1', { '/a': hA, '/b': hB });
  const d2 = dat('c2', { '/a': hA, '/b': hB2 });
  const datum = db.prepare(
    `INSERT INTO datums (job, id, hash, state, tries, reused_from, inputs) VALUES (?, ?, ?, ?, ?, ?, '[]')`,
  );
  const out = db.prepare(`INSERT INTO datum_files VALUES (?, ?, ?, ?, ?)`);
  for (const d of d1) {
    datum.run('j1', d.id, datumHash(d, 'salt1'), 'success', 1, null);
    out.run('j1', d.id, d.inputs[0].path, d.inputs[0].files[0].hash, 1);
  }
  for (const d of d2) {
    const same = d1.find((x) => x.id === d.id && datumHash(x, 'salt1') === datumHash(d, 'salt1'));
    datum.run('j2', d.id, datumHash(d, 'salt1'), same ? 'skipped' : 'success', same ? 0 : 1, same ? 'j1' : null);
    out.run('j2', d.id, d.inputs[0].path, d.inputs[0].files[0].hash, d.inputs[0].path === '/b' ? 2 : 1);
  }
  db.close();
  return hashes;
}

const V1_SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE repos (name TEXT PRIMARY KEY, created TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', pipeline TEXT) WITHOUT ROWID;
CREATE TABLE branches (repo TEXT NOT NULL, name TEXT NOT NULL, head TEXT, PRIMARY KEY (repo, name)) WITHOUT ROWID;
CREATE TABLE commits (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, repo TEXT NOT NULL, branch TEXT NOT NULL, parent TEXT,
  created TEXT NOT NULL, origin TEXT NOT NULL, job TEXT, description TEXT NOT NULL DEFAULT '', n_files INTEGER NOT NULL, size_bytes INTEGER NOT NULL);
CREATE INDEX commits_repo ON commits (repo, branch, seq);
CREATE TABLE commit_files (commit_seq INTEGER NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (commit_seq, path)) WITHOUT ROWID;
CREATE TABLE provenance (commit_id TEXT NOT NULL, repo TEXT NOT NULL, branch TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (commit_id, repo, branch)) WITHOUT ROWID;
CREATE TABLE pipelines (name TEXT PRIMARY KEY, spec TEXT NOT NULL, file TEXT, salt TEXT NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, pipeline TEXT NOT NULL, version INTEGER NOT NULL, salt TEXT NOT NULL,
  state TEXT NOT NULL, inputs TEXT NOT NULL, created TEXT NOT NULL, started TEXT, finished TEXT, pid INTEGER, pid_start TEXT, reason TEXT,
  n_total INTEGER NOT NULL DEFAULT 0, n_processed INTEGER NOT NULL DEFAULT 0, n_skipped INTEGER NOT NULL DEFAULT 0, n_failed INTEGER NOT NULL DEFAULT 0,
  n_recovered INTEGER NOT NULL DEFAULT 0);
CREATE INDEX jobs_pipeline ON jobs (pipeline, seq);
CREATE TABLE datums (job TEXT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, state TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0, reused_from TEXT,
  started TEXT, finished TEXT, seconds REAL, log TEXT, error TEXT, inputs TEXT NOT NULL, PRIMARY KEY (job, id)) WITHOUT ROWID;
CREATE INDEX datums_hash ON datums (job, hash);
CREATE TABLE datum_files (job TEXT NOT NULL, datum TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (job, datum, path)) WITHOUT ROWID;
CREATE INDEX datum_files_path ON datum_files (job, path);
CREATE TABLE runner (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, pid_start TEXT NOT NULL, host TEXT NOT NULL, command TEXT NOT NULL, since TEXT NOT NULL);
`;
