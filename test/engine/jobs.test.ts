import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { appDir } from '../../engine/app-dir.js';
import { datumFiles, listDatums, listJobs } from '../../engine/pps/jobs.js';
import { deletePipeline, getPipeline, putPipelines } from '../../engine/pps/pipelines.js';
import { rewritePfs } from '../../engine/worker/spawn.js';
import { isolation } from '../../engine/worker/sandbox.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { slotsFor } from '../../engine/pps/slots.js';
import type { JobResult } from '../../engine/pps/job-result.js';
import { createRepo } from '../../engine/pfs/repos.js';
import { deleteFiles, putFiles } from '../../engine/pfs/put-files.js';
import { filesOf, provenanceOf, resolveCommit } from '../../engine/pfs/commits.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import type { PipelineSpec } from '../../engine/pps/spec/pipeline-spec.js';
import { Store } from '../../engine/store/store.js';
import { projectRoot, quiet } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

function spec(yaml: string): PipelineSpec[] {
  return parseSpecs(yaml, 'test.yaml');
}

/** Puts {path: content} into repo@master as one commit (content written to temp files first). */
async function put(store: Store, repo: string, files: Record<string, string>, scratch: string): Promise<void> {
  const items = Object.entries(files).map(([p, content], i) => {
    const local = join(scratch, `put-${Date.now()}-${i}-${Math.random().toString(36).slice(2)}`);
    writeFileSync(local, content);
    return { local, path: p };
  });
  await putFiles(store, repo, 'master', items);
}

function only(results: JobResult[], pipeline: string): JobResult {
  const rs = results.filter((r) => r.pipeline === pipeline);
  assert.equal(rs.length, 1, `one job of ${pipeline}: ${JSON.stringify(results)}`);
  return rs[0];
}

function outputFiles(store: Store, repo: string): Record<string, string> {
  const c = resolveCommit(store, repo, 'master');
  const out: Record<string, string> = {};
  for (const f of filesOf(store, c.seq)) out[f.path] = readFileSync(store.blobs.pathOf(f.hash), 'utf8');
  return out;
}

// cross(in /*, cfg /model): each datum copies its input file and the model next to it
const crossSpec = (extra = '') => `
pipeline: { name: copy }
input:
  cross:
    - pfs: { repo: in, glob: "/*" }
    - pfs: { repo: cfg, glob: "/model" }
transform:
  cmd: [sh]
  stdin:
    - set -e
    - n=$(basename $in)
    - cp $in /pfs/out/$n
    - cat $cfg/w.txt > /pfs/out/$n.model${extra}
`;

describe('jobs: the incremental story', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  const run = () => runJobs(store, { log: quiet });
  before(async () => {
    t = tempDir();
    store = Store.open(join(t.dir, 'home'));
    createRepo(store, 'in');
    createRepo(store, 'cfg');
    await put(store, 'in', { '/f1': '1', '/f2': '2', '/f3': '3' }, t.dir);
    await put(store, 'cfg', { '/model/w.txt': 'w1', '/other.txt': 'o1' }, t.dir);
    putPipelines(store, spec(crossSpec()));
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  test('N files -> N runs', async () => {
    const r = only(await run(), 'copy');
    assert.equal(r.state, 'success');
    assert.equal(r.processed, 3);
    assert.equal(r.skipped, 0);
    assert.deepEqual(outputFiles(store, 'copy'), {
      '/f1': '1',
      '/f1.model': 'w1',
      '/f2': '2',
      '/f2.model': 'w1',
      '/f3': '3',
      '/f3.model': 'w1',
    });
    assert.deepEqual(await run(), [], 'nothing is due afterwards');
  });

  test('one more file -> 1 run', async () => {
    await put(store, 'in', { '/f4': '4' }, t.dir);
    const r = only(await run(), 'copy');
    assert.equal(r.processed, 1);
    assert.equal(r.skipped, 3);
    assert.equal(outputFiles(store, 'copy')['/f4.model'], 'w1');
  });

  test('a change in the crossed repo outside the glob -> 0 runs (a job that skips everything)', async () => {
    await put(store, 'cfg', { '/other.txt': 'o2' }, t.dir);
    const r = only(await run(), 'copy');
    assert.equal(r.state, 'success');
    assert.equal(r.processed, 0);
    assert.equal(r.skipped, 4);
  });

  test('a change inside the glob -> all run', async () => {
    await put(store, 'cfg', { '/model/w.txt': 'w2' }, t.dir);
    const r = only(await run(), 'copy');
    assert.equal(r.processed, 4);
    assert.equal(r.skipped, 0);
    assert.equal(outputFiles(store, 'copy')['/f1.model'], 'w2');
  });

  test('update pipeline without --reprocess -> 0 runs; with -> all', async () => {
    const salt = getPipeline(store, 'copy')!.salt;
    const res = putPipelines(store, spec(crossSpec('\n    - echo updated')), { update: true });
    assert.deepEqual(res.updated, ['copy']);
    assert.equal(getPipeline(store, 'copy')!.salt, salt);
    assert.equal(getPipeline(store, 'copy')!.version, 2);
    let r = only(await run(), 'copy');
    assert.equal(r.processed, 0);
    assert.equal(r.skipped, 4);
    putPipelines(store, spec(crossSpec('\n    - echo updated')), { update: true, reprocess: true });
    assert.notEqual(getPipeline(store, 'copy')!.salt, salt);
    r = only(await run(), 'copy');
    assert.equal(r.processed, 4);
  });

  test('an unchanged update changes nothing', async () => {
    const res = putPipelines(store, spec(crossSpec('\n    - echo updated')), { update: true });
    assert.deepEqual(res.unchanged, ['copy']);
    assert.deepEqual(await run(), []);
  });

  test('a deleted input file -> its output is gone', async () => {
    deleteFiles(store, 'in', 'master', ['/f2']);
    const r = only(await run(), 'copy');
    assert.equal(r.processed, 0);
    assert.equal(r.skipped, 3);
    const out = outputFiles(store, 'copy');
    assert.equal(out['/f2'], undefined);
    assert.equal(out['/f2.model'], undefined);
    assert.deepEqual(Object.keys(out).sort(), ['/f1', '/f1.model', '/f3', '/f3.model', '/f4', '/f4.model']);
  });

  test('output commits record their input commits; job id = output commit id', () => {
    const job = listJobs(store, 'copy')[0];
    const c = resolveCommit(store, 'copy', 'master');
    assert.equal(c.id, job.id);
    assert.equal(c.origin, 'job');
    assert.deepEqual(provenanceOf(store, c.id), [
      { repo: 'cfg', branch: 'master', commit: resolveCommit(store, 'cfg', 'master').id },
      { repo: 'in', branch: 'master', commit: resolveCommit(store, 'in', 'master').id },
    ]);
    const parent = resolveCommit(store, 'copy', 'master^');
    assert.equal(c.parent, parent.id);
  });
});

describe('jobs: failures, retries, timeouts, environment', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  before(async () => {
    t = tempDir();
    store = Store.open(join(t.dir, 'home'));
    createRepo(store, 'in');
    await put(store, 'in', { '/a': 'A', '/b': 'B' }, t.dir);
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  test('two datums writing the same path fail the job, naming both and the path', async () => {
    putPipelines(
      store,
      spec(`
pipeline: { name: dup }
input: { pfs: { repo: in, glob: "/*" } }
transform: { cmd: [sh], stdin: ["cat $in > /pfs/out/same.txt"] }
`),
    );
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'failure');
    const ids = listDatums(store, r.job).map((d) => d.id);
    assert.equal(ids.length, 2);
    assert.match(r.reason!, /both write \/same\.txt/);
    for (const id of ids) assert.ok(r.reason!.includes(id), `reason names datum ${id}: ${r.reason}`);
    assert.throws(() => resolveCommit(store, 'dup', 'master'), /no commits/);
    deletePipeline(store, 'dup');
  });

  test('datumTries retries a datum that fails on its first try', async () => {
    const marks = join(t.dir, 'marks');
    mkdirSync(marks);
    putPipelines(
      store,
      spec(`
pipeline: { name: flaky }
input: { pfs: { repo: in, glob: "/*" } }
datumTries: 2
transform:
  cmd: [sh]
  env: { MARKS: "${marks}" }
  stdin:
    - n=$(basename $in)
    - if [ ! -e $MARKS/$n ]; then touch $MARKS/$n; echo "first try fails" >&2; exit 3; fi
    - cp $in /pfs/out/$n
`),
    );
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'success', r.reason);
    assert.equal(r.processed, 2);
    for (const d of listDatums(store, r.job)) {
      assert.equal(d.tries, 2);
      const log = readFileSync(d.log!, 'utf8');
      assert.match(log, /first try fails/);
      assert.match(log, /attempt 1 failed: exit code 3/);
    }
    deletePipeline(store, 'flaky');
  });

  test('a datum failing every try fails the job, naming the datum and its log; the next run retries it', async () => {
    const gate = join(t.dir, 'gate');
    putPipelines(
      store,
      spec(`
pipeline: { name: broken }
input: { pfs: { repo: in, glob: "/*" } }
datumTries: 2
transform:
  cmd: [sh]
  env: { GATE: "${gate}" }
  stdin:
    - if [ "$(cat $in)" = B ] && [ ! -e $GATE ]; then echo "cannot handle B" >&2; exit 1; fi
    - cp $in /pfs/out/
`),
    );
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'failure');
    assert.equal(r.failed, 1);
    assert.equal(r.processed, 1);
    assert.equal(r.failures.length, 1);
    // the datum's own last words follow the exit code
    assert.match(r.failures[0].error, /exit code 1: cannot handle B \(after 2 tries\)/);
    assert.match(readFileSync(r.failures[0].log, 'utf8'), /cannot handle B/);
    assert.ok(r.reason!.includes(r.failures[0].datum) && r.reason!.includes(r.failures[0].log));
    // fixed: the next run retries the job; the datum that succeeded is reused
    writeFileSync(gate, '');
    const [again] = await runJobs(store, { log: quiet });
    assert.equal(again.state, 'success');
    assert.equal(again.processed, 1);
    assert.equal(again.skipped, 1);
    deletePipeline(store, 'broken');
  });

  test('datumTimeout kills a datum', async () => {
    putPipelines(
      store,
      spec(`
pipeline: { name: slow }
input: { pfs: { repo: in, glob: "/a" } }
datumTries: 1
datumTimeout: 1s
transform: { cmd: [sh, -c, "sleep 30"] }
`),
    );
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'failure');
    assert.match(r.failures[0].error, /timed out after datumTimeout 1s/);
    deletePipeline(store, 'slow');
  });

  test("Pachyderm's variables, /app as working directory, inputs read-only", async () => {
    putPipelines(
      store,
      spec(`
pipeline: { name: env }
input: { pfs: { repo: in, name: src, glob: "/a" } }
transform:
  workingDir: /app
  env: { GREETING: hello, OUTDIR: /pfs/out }
  cmd: [sh]
  stdin:
    - env | grep -E '^(src|src_COMMIT|PACH_DATUM_ID|PACH_JOB_ID|PACH_OUTPUT_COMMIT_ID|PPS_PIPELINE_NAME|PFS_ROOT|GREETING|OUTDIR)=' | sort > /pfs/out/env.txt
    - pwd > $OUTDIR/pwd.txt
    - cat $src > /pfs/out/content.txt
`),
    );
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'success', r.reason);
    const out = outputFiles(store, 'env');
    const env = Object.fromEntries(
      out['/env.txt']
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const [datum] = listDatums(store, r.job);
    assert.equal(env.PACH_DATUM_ID, datum.id);
    assert.equal(env.PACH_JOB_ID, r.job);
    assert.equal(env.PACH_OUTPUT_COMMIT_ID, r.job);
    assert.equal(env.PPS_PIPELINE_NAME, 'env');
    assert.equal(env.src, `${env.PFS_ROOT}/src/a`);
    assert.equal(env.src_COMMIT, resolveCommit(store, 'in', 'master').id);
    assert.equal(env.GREETING, 'hello');
    assert.equal(env.OUTDIR, `${env.PFS_ROOT}/out`);
    assert.equal(out['/pwd.txt'].trim(), projectRoot);
    assert.equal(appDir(), projectRoot);
    assert.equal(out['/content.txt'], 'A');
    assert.deepEqual(
      datumFiles(store, r.job, datum.id).map((f) => f.path),
      ['/content.txt', '/env.txt', '/pwd.txt'],
    );
    assert.equal(existsSync(env.PFS_ROOT), false, 'the scratch folder is removed');
    deletePipeline(store, 'env');
  });

  test('a datum that writes into its input cannot change the stored file', async () => {
    createRepo(store, 'victim');
    await put(store, 'victim', { '/a': 'original' }, t.dir);
    putPipelines(
      store,
      spec(`
pipeline: { name: vandal }
input: { pfs: { repo: victim, name: src, glob: "/a" } }
datumTries: 3
transform:
  cmd: [sh]
  stdin:
    - set -e
    - echo changed >> $src
    - echo done > /pfs/out/x
`),
    );
    const [r] = await runJobs(store, { log: quiet });
    const [datum] = listDatums(store, r.job);
    if (isolation() === 'namespace') {
      // the store is read-only to the datum: the write itself is refused, and the datum says so
      assert.equal(r.state, 'failure');
      assert.equal(datum.state, 'failed');
      assert.match(datum.error ?? '', /exit code \d+: .*Read-only file system/);
    } else {
      // its input is a private copy: the datum changed that copy only
      assert.equal(r.state, 'success', r.reason);
    }
    const [f] = filesOf(store, resolveCommit(store, 'victim', 'master').seq);
    assert.equal(readFileSync(store.blobs.pathOf(f.hash), 'utf8'), 'original');
    deletePipeline(store, 'vandal');
  });

  test('a failed pipeline holds back its downstream jobs: no job mixes old and new inputs', async () => {
    createRepo(store, 'src');
    await put(store, 'src', { '/v': 'v1' }, t.dir);
    const stage = (name: string, input: string, body: string) =>
      putPipelines(
        store,
        spec(`
pipeline: { name: ${name} }
input: ${input}
datumTries: 1
transform:
  cmd: [sh]
  stdin: ["set -e", ${JSON.stringify(body)}]
`),
      );
    stage('left', '{ pfs: { repo: src, glob: "/" } }', 'v=$(cat $src/v); [ "$v" != bad ]; echo $v > /pfs/out/l');
    stage('right', '{ pfs: { repo: src, glob: "/" } }', 'cat $src/v > /pfs/out/r');
    stage(
      'both',
      '{ cross: [ { pfs: { repo: left, glob: "/" } }, { pfs: { repo: right, glob: "/" } } ] }',
      'cat $left/l $right/r > /pfs/out/joined',
    );
    const first = await runJobs(store, { log: quiet });
    assert.ok(first.every((r) => r.state === 'success'));
    assert.equal(outputFiles(store, 'both')['/joined'], 'v1\nv1');

    await put(store, 'src', { '/v': 'bad' }, t.dir);
    const second = await runJobs(store, { log: quiet });
    assert.equal(only(second, 'left').state, 'failure');
    assert.equal(only(second, 'right').state, 'success');
    assert.equal(second.filter((r) => r.pipeline === 'both').length, 0, 'both must wait for left');
    assert.equal(outputFiles(store, 'both')['/joined'], 'v1\nv1');

    await put(store, 'src', { '/v': 'v2' }, t.dir);
    const third = await runJobs(store, { log: quiet });
    assert.equal(only(third, 'both').state, 'success');
    assert.equal(outputFiles(store, 'both')['/joined'], 'v2\nv2');
    for (const p of ['both', 'left', 'right']) deletePipeline(store, p);
  });

  test('reprocessSpec every_job never skips', async () => {
    putPipelines(
      store,
      spec(`
pipeline: { name: every }
input: { pfs: { repo: in, glob: "/*" } }
reprocessSpec: every_job
transform: { cmd: [sh], stdin: ["cp $in /pfs/out/"] }
`),
    );
    assert.equal((await runJobs(store, { log: quiet }))[0].processed, 2);
    await put(store, 'in', { '/c': 'C' }, t.dir);
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.processed, 3);
    assert.equal(r.skipped, 0);
    deletePipeline(store, 'every');
  });

  test('jobs run in DAG order until nothing is due', async () => {
    putPipelines(
      store,
      spec(`
pipeline: { name: second }
input: { pfs: { repo: first, glob: "/*" } }
transform: { cmd: [sh], stdin: ["cp $first /pfs/out/$(basename $first).2"] }
---
pipeline: { name: first }
input: { pfs: { repo: in, glob: "/*" } }
transform: { cmd: [sh], stdin: ["cp $in /pfs/out/"] }
`),
    );
    const rs = await runJobs(store, { log: quiet });
    assert.deepEqual(
      rs.map((r) => [r.pipeline, r.state, r.processed]),
      [
        ['first', 'success', 3],
        ['second', 'success', 3],
      ],
    );
    assert.deepEqual(Object.keys(outputFiles(store, 'second')).sort(), ['/a.2', '/b.2', '/c.2']);
    await put(store, 'in', { '/d': 'D' }, t.dir);
    const rs2 = await runJobs(store, { log: quiet });
    assert.deepEqual(
      rs2.map((r) => [r.pipeline, r.processed, r.skipped]),
      [
        ['first', 1, 3],
        ['second', 1, 3],
      ],
    );
    assert.deepEqual(provenanceOf(store, resolveCommit(store, 'second', 'master').id), [
      { repo: 'first', branch: 'master', commit: resolveCommit(store, 'first', 'master').id },
    ]);
  });

  test('specs with unknown input repos, cycles or bad globs are refused; nothing changes', () => {
    const before = JSON.stringify(store.db.prepare('SELECT name, version FROM pipelines ORDER BY name').all());
    assert.throws(
      () =>
        putPipelines(
          store,
          spec(`pipeline: {name: x}\ninput: {pfs: {repo: nowhere, glob: "/*"}}\ntransform: {cmd: ["true"]}`),
        ),
      /input repo "nowhere" is neither a repo/,
    );
    assert.throws(
      () =>
        putPipelines(
          store,
          spec(`pipeline: {name: first}\ninput: {pfs: {repo: second, glob: "/*"}}\ntransform: {cmd: ["true"]}`),
          { update: true },
        ),
      /cycle: .*first.*second.*first|cycle: .*second.*first.*second/,
    );
    assert.throws(
      () =>
        putPipelines(
          store,
          spec(`pipeline: {name: y}\ninput: {pfs: {repo: in, glob: "/[a"}}\ntransform: {cmd: ["true"]}`),
        ),
      /glob/,
    );
    assert.throws(
      () =>
        putPipelines(
          store,
          spec(`pipeline: {name: in}\ninput: {pfs: {repo: first, glob: "/*"}}\ntransform: {cmd: ["true"]}`),
        ),
      /repo of that name already exists/,
    );
    assert.throws(
      () =>
        putPipelines(
          store,
          spec(`pipeline: {name: first}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {cmd: ["true"]}`),
        ),
      /already exists/,
    );
    assert.throws(
      () => spec(`pipeline: {name: z}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {image: x}`),
      /cmd/,
    );
    assert.equal(JSON.stringify(store.db.prepare('SELECT name, version FROM pipelines ORDER BY name').all()), before);
    assert.throws(() => deletePipeline(store, 'first'), /input of pipeline\(s\) second/);
  });
});

describe('jobs: slots and local mapping', () => {
  test('GPU pipelines run one datum per GPU; CPU ones up to parallelism, capped by cores', () => {
    const gpu = spec(
      `pipeline: {name: g}\ninput: {pfs: {repo: in, glob: "/*"}}\nparallelismSpec: {constant: 8}\nresourceLimits: {gpu: {type: nvidia.com/gpu, number: 1}}\ntransform: {cmd: ["true"]}`,
    )[0];
    const cpu = spec(
      `pipeline: {name: c}\ninput: {pfs: {repo: in, glob: "/*"}}\nparallelismSpec: {constant: 1000}\ntransform: {cmd: ["true"]}`,
    )[0];
    const one = spec(`pipeline: {name: o}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {cmd: ["true"]}`)[0];
    const saved = process.env.TESSELLA_GPUS;
    try {
      process.env.TESSELLA_GPUS = '0,3';
      assert.deepEqual(slotsFor(gpu), [['0'], ['3']]);
      process.env.TESSELLA_GPUS = '0';
      assert.deepEqual(slotsFor(gpu), [[]]);
      process.env.TESSELLA_GPUS = '4';
      assert.equal(slotsFor(gpu).length, 4);
    } finally {
      if (saved === undefined) delete process.env.TESSELLA_GPUS;
      else process.env.TESSELLA_GPUS = saved;
    }
    assert.equal(slotsFor(cpu).length, availableParallelism());
    assert.equal(slotsFor(one).length, 1);
  });

  test('/pfs in commands maps to the datum root', () => {
    assert.equal(rewritePfs('cp $in /pfs/out/', '/r'), 'cp $in /r/out/');
    assert.equal(rewritePfs('/pfs', '/r'), '/r');
    assert.equal(rewritePfs('--out=/pfs/out', '/r'), '--out=/r/out');
    assert.equal(rewritePfs('/data/pfs/out /pfsx', '/r'), '/data/pfs/out /pfsx');
  });
});
