/**
 * Datum batching (`transform.datumBatching: true`): one process per slot serves the job's datums through the
 * NextDatum call, as on Pachyderm. The user code here is a real stage loop (dist/shared/stage-main.js): it writes
 * each datum's input and its own pid, and fails, crashes or hangs when its input says so.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRepo } from '../../engine/pfs/repos.js';
import { filesOf, headOf } from '../../engine/pfs/commits.js';
import { putFiles } from '../../engine/pfs/put-files.js';
import { processAlive } from '../../engine/store/proc.js';
import { putPipelines } from '../../engine/pps/pipelines.js';
import { AHEAD_MAX_FILES } from '../../engine/worker/ahead-inputs.js';
import { BatchWorker } from '../../engine/worker/batch-executor.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { Store } from '../../engine/store/store.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';
import { cliSpawn, quiet, sleep } from './_engine-helpers.js';

let t: ReturnType<typeof tempDir>;
let code: string;
let n = 0;

before(() => {
  t = tempDir('datum-batching');
  code = join(t.dir, 'echo-stage.mjs');
  const stageMain = join(projectRoot, 'dist', 'shared', 'stage-main.js');
  writeFileSync(
    code,
    `import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { stageMain } from ${JSON.stringify(stageMain)};
if (process.env.PIDS) writeFileSync(join(process.env.PIDS, 'start-' + process.env.PPS_PIPELINE_NAME + '-' + process.pid), String(Date.now()));
if (process.env.AHEAD) {
  // what the engine showed this process ahead of its job: each TESSELLA_AHEAD_<input>'s files and their text
  const ahead = {};
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith('TESSELLA_AHEAD_')) ahead[k] = Object.fromEntries(readdirSync(v).map((f) => [f, readFileSync(join(v, f), 'utf8')]));
  writeFileSync(join(process.env.AHEAD, process.env.PPS_PIPELINE_NAME), JSON.stringify(ahead));
}
stageMain('echo', async ({ env, log }) => {
  const dir = process.env.in;
  const name = readdirSync(dir)[0];
  const text = readFileSync(join(dir, name), 'utf8').trim();
  log.info('serving', { input: name, text });
  if (text === 'throw') throw new Error('told to fail on ' + name);
  if (text === 'exit') process.exit(3);
  if (text === 'slow') await new Promise((r) => setTimeout(r, 1500));
  if (text === 'hang') {
    if (process.env.PIDS) writeFileSync(join(process.env.PIDS, name), String(process.pid));
    return new Promise(() => setInterval(() => {}, 1000));
  }
  if (process.env.PIDS) {
    // the root session prints nothing: it is at niceness 0
    let session = 'none';
    try {
      session = readFileSync('/proc/self/autogroup', 'utf8').match(/nice (-?\\d+)/)?.[1] ?? '0';
    } catch {}
    writeFileSync(join(process.env.PIDS, 'priority-' + process.env.PPS_PIPELINE_NAME), getPriority() + ' ' + session);
  }
  // OUT_BY_DATUM: a pipeline of several datums over one input file writes one file each
  const out = process.env.OUT_BY_DATUM ? name + '-' + process.env.PACH_DATUM_ID : name;
  writeFileSync(join(env.outDir, out), text + ' ' + process.pid + ' ' + process.env.PACH_DATUM_ID + '\\n');
});
`,
  );
});
after(() => t.cleanup());

async function setUp(contents: string[], extra = '', cmd = `[node, ${JSON.stringify(code)}]`): Promise<Store> {
  const store = Store.open(join(t.dir, `home-${n++}`));
  createRepo(store, 'in');
  const local = join(t.dir, `in-${n++}`);
  mkdirSync(local);
  const items = contents.map((c, i) => {
    const dir = join(local, `d${i}`);
    mkdirSync(dir);
    writeFileSync(join(dir, `f${i}`), c);
    return { local: join(dir, `f${i}`), path: `/d${i}/f${i}` };
  });
  await putFiles(store, 'in', 'master', items);
  const spec = `pipeline: { name: echo }
input: { pfs: { repo: in, glob: "/*" } }
transform:
  cmd: ${cmd}
  datumBatching: true
parallelismSpec: { constant: 2 }
${extra}`;
  putPipelines(store, parseSpecs(spec, 'echo.yaml'));
  return store;
}

/** Each output file's words: input text, pid, datum id. */
async function outputs(store: Store): Promise<Map<string, string[]>> {
  const head = headOf(store, 'echo', 'master')!;
  const out = new Map<string, string[]>();
  for (const f of filesOf(store, head.seq))
    out.set(f.path, readFileSync(store.blobs.pathOf(f.hash), 'utf8').trim().split(' '));
  return out;
}

describe('datum batching', () => {
  before(() => {
    process.env.TESSELLA_MAX_PARALLEL = '2';
  });
  after(() => {
    delete process.env.TESSELLA_MAX_PARALLEL;
  });

  it('serves every datum from one process per slot, each with its own variables and log', async () => {
    const store = await setUp(['a', 'b', 'c', 'd', 'e', 'f']);
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'success', r.reason);
    assert.equal(r.processed, 6);
    const out = await outputs(store);
    assert.deepEqual(
      [...out.keys()].sort(),
      ['a', 'b', 'c', 'd', 'e', 'f'].map((_, i) => `/f${i}`),
    );
    const pids = new Set([...out.values()].map((w) => w[1]));
    assert.ok(pids.size <= 2, `${pids.size} processes for 6 datums on 2 slots`);
    for (const [path, [text]] of out) assert.equal(text, 'abcdef'[Number(path.slice(2))]);
    // each datum's log has its own lines only
    const logs = join(store.logsDir, 'echo', r.job);
    for (const name of readdirSync(logs)) {
      const id = name.replace(/\.log$/, '');
      const served = readFileSync(join(logs, name), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"serving"'))
        .map((l) => JSON.parse(l) as { datum: string });
      assert.equal(served.length, 1, `${name}: ${served.length} datums served in its log`);
      assert.equal(served[0].datum, id);
    }
    for (const [, w] of out) assert.ok(readdirSync(logs).includes(`${w[2]}.log`), 'PACH_DATUM_ID is the datum id');
    // no scratch root is left behind
    assert.deepEqual(readdirSync(store.scratchDir), []);
    store.close();
  });

  it('a datum that throws or exits fails alone, with its reason; the others go on in a fresh process', async () => {
    const store = await setUp(['a', 'throw', 'b', 'exit', 'c', 'd'], 'datumTries: 2');
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'failure');
    assert.equal(r.processed, 4);
    assert.equal(r.failed, 2);
    const reasons = r.failures.map((f) => f.error).sort();
    assert.match(reasons.join('\n'), /the datum's code reported an error: told to fail on f1 \(after 2 tries\)/);
    assert.match(reasons.join('\n'), /exit code 3 \(after 2 tries\)/);
    store.close();
  });

  it('a datum past datumTimeout is killed and fails; the next datum gets a new process', async () => {
    const store = await setUp(['a', 'hang', 'b'], 'datumTries: 1\ndatumTimeout: 2s');
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.failed, 1);
    assert.equal(r.processed, 2);
    assert.match(r.failures[0].error, /timed out after datumTimeout 2s/);
    store.close();
  });

  it('a cmd that never calls NextDatum fails each datum saying so', async () => {
    const store = await setUp(['a'], 'datumTries: 1', '[sh, -c, "echo no loop here"]');
    const [r] = await runJobs(store, { log: quiet });
    assert.equal(r.state, 'failure');
    assert.match(r.failures[0].error, /exited without asking for a datum/);
    store.close();
  });

  it('a kill -9 of the runner ends the batch processes too', async () => {
    const pids = join(t.dir, `pids-${n++}`);
    mkdirSync(pids);
    const store = await setUp(['hang', 'hang'], `datumTries: 1\n`);
    const home = store.home;
    store.close();
    const runner = cliSpawn(home, ['run'], { env: { PIDS: pids, TESSELLA_MAX_PARALLEL: '2' } });
    const seen = async () => {
      const hanging = () => readdirSync(pids).filter((f) => !f.startsWith('start-'));
      for (let i = 0; i < 300 && hanging().length < 2; i++) await sleep(100);
      return hanging().map((f) => Number(readFileSync(join(pids, f), 'utf8')));
    };
    const stagePids = await seen();
    assert.equal(stagePids.length, 2, 'both slots started a batch process');
    runner.kill('SIGKILL');
    let alive = stagePids;
    for (let i = 0; i < 100 && alive.length; i++) {
      await sleep(100);
      alive = alive.filter((p) => processAlive(p) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z '));
    }
    assert.deepEqual(alive, [], 'batch processes outlived their runner');
  });

  it('every pipeline below a running job has its one process started before that job ends', async () => {
    const pids = join(t.dir, `pids-${n++}`);
    mkdirSync(pids);
    process.env.PIDS = pids;
    try {
      const store = await setUp(['slow'], 'datumTries: 1');
      const reader = (name: string, repo: string) => `pipeline: { name: ${name} }
input: { pfs: { name: in, repo: ${repo}, glob: "/" } }
transform:
  cmd: [node, ${JSON.stringify(code)}]
  datumBatching: true
`;
      // below reads echo; further reads below, so it is two levels under the running job
      putPipelines(store, parseSpecs(`${reader('below', 'echo')}---\n${reader('further', 'below')}`, 'below.yaml'));
      const t0 = Date.now();
      const results = await runJobs(store, { log: quiet });
      assert.deepEqual(
        results.map((r) => [r.pipeline, r.state]),
        [
          ['echo', 'success'],
          ['below', 'success'],
          ['further', 'success'],
        ],
      );
      const echoJob = store.stmt(`SELECT finished FROM jobs WHERE pipeline = 'echo'`).get() as { finished: string };
      const echoEnd = Date.parse(echoJob.finished);
      for (const name of ['below', 'further']) {
        const starts = readdirSync(pids).filter((f) => f.startsWith(`start-${name}-`));
        assert.equal(starts.length, 1, `${name} started ${starts.length} processes`);
        const started = Number(readFileSync(join(pids, starts[0]), 'utf8'));
        assert.ok(started >= t0 && started < echoEnd, `${name} was started after echo had finished`);
        // started ahead at a lower priority where the engine can raise it back (worker/priority.ts): its datum ran
        // at the engine's own priority, in a scheduling session as nice as the engine's
        const [nice, session] = readFileSync(join(pids, `priority-${name}`), 'utf8').split(' ');
        assert.equal(Number(nice), getPriority(), `${name}'s datum ran at niceness ${nice}`);
        // a process in the kernel's root session (a container's init session) reads an empty file: niceness 0,
        // while the stage, which leads a session of its own, has one it can read
        const own = existsSync('/proc/self/autogroup')
          ? (readFileSync('/proc/self/autogroup', 'utf8').match(/nice (-?\d+)/)?.[1] ?? '0')
          : 'none';
        assert.equal(session, own, `${name}'s datum ran in a session of niceness ${session}`);
      }
      store.close();
    } finally {
      delete process.env.PIDS;
    }
  });

  it("a process started ahead is shown what its job's datums will share: a user's repo matched once in a cross", async () => {
    const shownDir = join(t.dir, `ahead-${n++}`);
    mkdirSync(shownDir);
    process.env.AHEAD = shownDir;
    try {
      const store = await setUp(['slow'], 'datumTries: 1');
      createRepo(store, 'cfg');
      const local = join(t.dir, `cfg-${n++}`);
      for (const [dir, text] of [
        ['one', 'settings v1'],
        ['two', 'other'],
      ]) {
        mkdirSync(join(local, dir), { recursive: true });
        writeFileSync(join(local, dir, 'x.txt'), text);
      }
      await putFiles(store, 'cfg', 'master', [
        { local: join(local, 'one', 'x.txt'), path: '/one/x.txt' },
        { local: join(local, 'two', 'x.txt'), path: '/two/x.txt' },
      ]);
      // big:/all is one path, of more files than are shown ahead
      createRepo(store, 'big');
      const many = Array.from({ length: AHEAD_MAX_FILES + 1 }, (_, i) => ({
        local: join(local, 'one', 'x.txt'),
        path: `/all/f${i}.txt`,
      }));
      await putFiles(store, 'big', 'master', many);
      // in: a pipeline's output (its head changes with this run); cfg: one path; each: two paths (two datums);
      // bulk: one path of too many files
      const below = `pipeline: { name: below }
input:
  cross:
    - pfs: { name: in, repo: echo, glob: "/" }
    - pfs: { name: cfg, repo: cfg, glob: "/one" }
    - pfs: { name: each, repo: cfg, glob: "/*" }
    - pfs: { name: bulk, repo: big, glob: "/all" }
transform:
  cmd: [node, ${JSON.stringify(code)}]
  datumBatching: true
  env: { OUT_BY_DATUM: "1" }
`;
      putPipelines(store, parseSpecs(below, 'below.yaml'));
      const results = await runJobs(store, { log: quiet });
      assert.deepEqual(
        results.map((r) => [r.pipeline, r.state]),
        [
          ['echo', 'success'],
          ['below', 'success'],
        ],
      );
      const shown = JSON.parse(readFileSync(join(shownDir, 'below'), 'utf8'));
      assert.deepEqual(shown, { TESSELLA_AHEAD_cfg: { 'x.txt': 'settings v1' } });
      // echo's job started its own process, with its datum: nothing ahead
      assert.deepEqual(JSON.parse(readFileSync(join(shownDir, 'echo'), 'utf8')), {});
      assert.deepEqual(readdirSync(store.scratchDir), [], 'a scratch root was left');
      store.close();
    } finally {
      delete process.env.AHEAD;
    }
  });

  it('a process started ahead and closed at once (its job had nothing to run) leaves nothing running', async () => {
    const pids = join(t.dir, `pids-${n++}`);
    mkdirSync(pids);
    process.env.PIDS = pids;
    try {
      const store = await setUp(['a']);
      const spec = parseSpecs(
        `pipeline: { name: echo }
input: { pfs: { repo: in, glob: "/*" } }
transform:
  cmd: [node, ${JSON.stringify(code)}]
  datumBatching: true
`,
        'echo.yaml',
      )[0];
      for (const wait of [0, 1500]) {
        const w = new BatchWorker({ store, spec, workingDir: projectRoot }, [], 'copy');
        w.prestart();
        await sleep(wait);
        const t0 = performance.now();
        await w.close();
        assert.ok(performance.now() - t0 < 5000, 'close waited for a process');
      }
      await sleep(1500);
      const started = readdirSync(pids).map((f) => Number(f.split('-').at(-1)));
      assert.ok(started.length <= 2);
      for (const pid of started)
        assert.ok(
          !processAlive(pid) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '),
          `process ${pid} outlived its closed worker`,
        );
      assert.deepEqual(readdirSync(store.scratchDir), [], 'a scratch root was left');
      store.close();
    } finally {
      delete process.env.PIDS;
    }
  });
});
