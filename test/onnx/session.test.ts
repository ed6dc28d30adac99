import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildModels } from '../../scripts/models/build.js';
import { InferenceWorker, inferenceRate, sessionRunsBetween } from '../../shared/onnx/inference.js';
import { ModelMismatchError, openModel } from '../../shared/onnx/model.js';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  checkProviders,
  defaultSessions,
  expectedProvider,
  openSession,
  providerMissing,
} from '../../shared/onnx/providers.js';
import { tempDir } from '../helpers/dirs.js';
import { fixtureModel, fixtureModelMissing, projectRoot } from './helpers.js';

describe('sessions: provider fallback and the inference worker', () => {
  const tmp = tempDir('session');
  before(() => buildModels({ out: tmp.dir, normalize: 'shift', shift: [20, -15, 10], embed: 'tiny', seed: 0 }));
  after(() => tmp.cleanup());

  it('falls back from providers that cannot start (no CUDA libraries, no WebGPU adapter here) to cpu, saying why', async () => {
    const { session, provider, attempts } = await openSession(join(tmp.dir, 'normalize', 'model.onnx'), {
      providers: ['cuda', 'webgpu', 'cpu'],
      intraOpThreads: 1,
      interOpThreads: 0,
    });
    await session.release();
    // On a machine where CUDA or WebGPU does start, the first working provider is used; here neither does.
    assert.equal(attempts.at(-1)!.provider, provider);
    for (const a of attempts.slice(0, -1))
      assert.ok(a.error && a.error.length > 0, `${a.provider} failed without a reason`);
    if (provider === 'cpu')
      assert.deepEqual(
        attempts.map((a) => a.provider),
        ['cuda', 'webgpu', 'cpu'],
      );
    // without onnxruntime-node's GPU provider libraries (a CPU install) CUDA is not even tried, and the reason says so
    if (providerMissing('cuda')) assert.match(attempts[0].error!, /ONNXRUNTIME_NODE_INSTALL=skip/);
  });

  it('rejects unknown providers by name', () => {
    assert.throws(() => checkProviders(['cuda', 'tpu']), /unknown provider 'tpu'/);
    assert.throws(() => checkProviders([]), /at least one/);
    assert.throws(() => expectedProvider(['tpu']), /unknown provider 'tpu'/);
  });

  it('expects the first provider listed that is not missing here', () => {
    assert.equal(expectedProvider(['cpu', 'cuda']), 'cpu');
    assert.equal(expectedProvider(['cuda', 'cpu']), providerMissing('cuda') ? 'cpu' : 'cuda');
  });

  it('runs batches in the worker thread and returns the output', async () => {
    const worker = await InferenceWorker.start(join(tmp.dir, 'normalize', 'model.onnx'), {
      providers: ['cpu'],
      intraOpThreads: 1,
      interOpThreads: 0,
    });
    try {
      assert.equal(worker.provider, 'cpu');
      const x = new Float32Array(2 * 3 * 2 * 2).fill(0);
      const out = await worker.run('input', 'output', x, [2, 3, 2, 2]);
      assert.deepEqual(out.dims, [2, 3, 2, 2]);
      assert.ok(Math.abs(out.data[0] - 20 / 127.5) < 1e-6, 'R shifted by 20 levels');
      assert.ok(Math.abs(out.data[4] + 15 / 127.5) < 1e-6, 'G shifted by -15 levels');
      // its 2 tiles are counted to the session; a warm-up batch is not
      await worker.run('input', 'output', new Float32Array(2 * 3 * 2 * 2), [2, 3, 2, 2], undefined, {
        uncounted: true,
      });
      assert.deepEqual(
        worker.runs.map((r) => r.tiles),
        [2],
      );
      await assert.rejects(worker.run('input', 'output', new Float32Array(4), [1, 4, 1, 1]), /invalid dimensions|Got/i);
    } finally {
      await worker.close();
    }
  });

  it('sessions side by side: batches dealt in turn, each answered with its own output, a bad one failing alone', async () => {
    const worker = await InferenceWorker.start(join(tmp.dir, 'normalize', 'model.onnx'), {
      providers: ['cpu'],
      sessions: 2,
      intraOpThreads: 1,
      interOpThreads: 0,
    });
    try {
      // the first session serves at once; the second joins when its graph is open
      const first = await worker.run('input', 'output', new Float32Array(3 * 2 * 2).fill(0), [1, 3, 2, 2]);
      assert.equal(worker.sessionsAsked, 2);
      assert.equal(await worker.allOpen(), undefined);
      assert.equal(worker.sessions, 2);
      const one = worker.runs[0];
      assert.equal(one.tiles, 1);
      assert.ok(one.seconds > 0, `the first batch's run was timed: ${one.seconds}`);
      const runsBefore = worker.runs;
      const sentBefore = worker.batchesPerSession;
      assert.deepEqual(sentBefore, [1, 0]);
      worker.recycle(first);
      // six batches in flight at once, each of its own value: every answer is its own batch's, shifted
      const runs = Array.from({ length: 6 }, (_, i) =>
        worker.run('input', 'output', new Float32Array(3 * 2 * 2).fill(i / 10), [1, 3, 2, 2]),
      );
      // (its rejection handled at once: it may come before the others' answers)
      const bad = assert.rejects(
        worker.run('input', 'output', new Float32Array(4), [1, 4, 1, 1]),
        /invalid dimensions|Got/i,
      );
      const outs = await Promise.all(runs);
      outs.forEach((o, i) => assert.ok(Math.abs(o.data[0] - (i / 10 + 20 / 127.5)) < 1e-6, `batch ${i}: ${o.data[0]}`));
      await bad;
      // 7 sent: none queued twice on one session while the other had none
      const sent = worker.batchesPerSession.map((n, i) => n - sentBefore[i]);
      assert.deepEqual(sent.toSorted(), [3, 4]);
      // the failed batch counts no tiles
      const both = sessionRunsBetween(runsBefore, worker.runs, 1).runs;
      assert.deepEqual(
        both.map((r) => r.tiles),
        [3, 3],
      );
      assert.ok(both.every((r) => r.seconds > 0));
      for (const o of outs) worker.recycle(o);
      const again = await worker.run('input', 'output', new Float32Array(3 * 2 * 2).fill(0), [1, 3, 2, 2]);
      assert.ok(Math.abs(again.data[0] - 20 / 127.5) < 1e-6);
    } finally {
      await worker.close();
    }
  });

  it('the sessions beside the first open its optimized graph, its scratch folder gone once the first is open', async () => {
    const scratch = join(tmp.dir, 'scratch');
    mkdirSync(scratch, { recursive: true });
    const graphs = () => readdirSync(scratch).filter((d) => d.startsWith('tessella-graph-'));
    const settings = { providers: ['cpu'], sessions: 2, intraOpThreads: 1, interOpThreads: 0 };
    const model = join(tmp.dir, 'normalize', 'model.onnx');
    const shifted = async (worker: InferenceWorker) => {
      const out = await worker.run('input', 'output', new Float32Array(3 * 2 * 2).fill(0), [1, 3, 2, 2]);
      assert.ok(Math.abs(out.data[0] - 20 / 127.5) < 1e-6, `${out.data[0]}`);
    };
    const tmpdir = process.env.TMPDIR;
    const setTmpdir = (dir: string | undefined) => {
      if (dir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = dir;
    };
    setTmpdir(scratch);
    try {
      const worker = await InferenceWorker.start(model, settings);
      // the graph is held open, its folder gone: a process killed from here on leaves nothing behind
      assert.deepEqual(graphs(), []);
      assert.equal(await worker.allOpen(), undefined);
      assert.deepEqual([worker.sessions, worker.othersFrom], [2, 'optimized graph']);
      await shifted(worker);
      await worker.close();

      // no scratch folder can be made (TMPDIR a file): the second session opens the model. The thread is started
      // ahead, before TMPDIR changes, as a thread takes the environment it starts with.
      InferenceWorker.prewarm();
      setTmpdir(model);
      const noScratch = InferenceWorker.start(model, settings);
      setTmpdir(scratch);
      const opened = await noScratch;
      assert.equal(await opened.allOpen(), undefined);
      assert.deepEqual([opened.sessions, opened.othersFrom], [2, 'model']);
      await shifted(opened);
      await opened.close();
      assert.deepEqual(graphs(), []);
    } finally {
      setTmpdir(tmpdir);
    }
  });

  /**
   * A convolutional model's output for one batch from the first session, and from the second, opened from its graph,
   * and from a session of every core (the model itself): the same bits.
   */
  async function fromEachSession(model: string): Promise<Float32Array[]> {
    const x = Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => ((i * 7919) % 1021) / 1021 - 0.5);
    const outputs: Float32Array[] = [];
    // as embed opens them: each its share of the cores
    const worker = await InferenceWorker.start(model, {
      providers: ['cpu'],
      sessions: 2,
      intraOpThreads: 0,
      interOpThreads: 0,
    });
    try {
      assert.equal(await worker.allOpen(), undefined);
      assert.equal(worker.othersFrom, 'optimized graph');
      // two at once: one to each session
      const both = await Promise.all([0, 1].map(() => worker.run('input', 'features', x.slice(), [2, 3, 224, 224])));
      assert.deepEqual(worker.batchesPerSession, [1, 1]);
      outputs.push(...both.map((o) => o.data as Float32Array));
    } finally {
      await worker.close();
    }
    const alone = await InferenceWorker.start(model, { providers: ['cpu'], intraOpThreads: 0, interOpThreads: 0 });
    try {
      outputs.push((await alone.run('input', 'features', x.slice(), [2, 3, 224, 224])).data as Float32Array);
    } finally {
      await alone.close();
    }
    return outputs;
  }

  const bytes = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

  it("a session of the optimized graph computes the first session's bits, and one session of every core's (the tiny CNN)", async () => {
    const [first, second, alone] = await fromEachSession(join(tmp.dir, 'embed', 'model.onnx'));
    assert.ok(first.length > 0);
    assert.deepEqual(bytes(second), bytes(first));
    assert.deepEqual(bytes(alone), bytes(first));
  });

  it("a session of the optimized graph computes the first session's bits, and one session of every core's (EfficientNet-B0)", {
    skip: fixtureModelMissing,
  }, async () => {
    const [first, second, alone] = await fromEachSession(fixtureModel);
    assert.equal(first.length, 2 * 1280 * 7 * 7);
    assert.deepEqual(bytes(second), bytes(first));
    assert.deepEqual(bytes(alone), bytes(first));
  });

  it('closes while the second session is still opening, and the process ends normally (EfficientNet-B0)', {
    skip: fixtureModelMissing,
  }, () => {
    // a datum of a few tiles ends before the second session has opened: ending its thread inside ONNX Runtime's
    // native open aborted the whole process (SIGABRT) after the datum's outputs were written. Each close comes at a
    // share of the time the second session took to join here, so some fall inside its open whatever the machine.
    const code = `
      const { InferenceWorker } = await import(${JSON.stringify(join(projectRoot, 'shared', 'onnx', 'inference.ts'))});
      const settings = { providers: ['cpu'], sessions: 2, intraOpThreads: 1, interOpThreads: 0 };
      const start = () => InferenceWorker.start(${JSON.stringify(fixtureModel)}, settings);
      const first = await start();
      const t0 = performance.now();
      await first.allOpen();
      const join = performance.now() - t0;
      await first.close();
      for (const share of [0.3, 0.45, 0.6, 0.75, 0.9]) {
        const worker = await start();
        await new Promise((r) => setTimeout(r, share * join));
        await worker.close();
      }
      console.log('closed each time');`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: projectRoot,
      encoding: 'utf8',
    });
    assert.equal(r.signal, null, `the process was killed by ${r.signal}: ${r.stderr.slice(-500)}`);
    assert.equal(r.status, 0, r.stderr.slice(-1000));
    assert.match(r.stdout, /closed each time/);
  });

  it('sessions that do not all open fail the start with the reason', async () => {
    const broken = join(tmp.dir, 'broken.onnx');
    writeFileSync(broken, 'not a model');
    await assert.rejects(
      InferenceWorker.start(broken, { providers: ['cpu'], sessions: 2, intraOpThreads: 1, interOpThreads: 0 }),
      /protobuf|parse|model/i,
    );
  });

  it('asks two sessions of embed on CPU where there are 2 cores or more, one on a GPU', () => {
    assert.equal(defaultSessions(['cpu']), availableParallelism() >= 2 ? 2 : 1);
    assert.equal(defaultSessions(['cuda', 'cpu']), providerMissing('cuda') ? defaultSessions(['cpu']) : 1);
    // an unknown name is the open's to refuse, not this
    assert.equal(defaultSessions(['tpu']), 1);
  });

  it('a model folder whose card disagrees with the model is a ModelMismatchError, not a crash', async () => {
    await assert.rejects(
      openModel(join(tmp.dir, 'normalize'), 'embed', { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 }),
      ModelMismatchError,
    );
    await assert.rejects(
      openModel(join(tmp.dir, 'nothing'), 'embed', { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 }),
      /model.onnx is missing/,
    );
  });
});

describe("sessions' runs over a loop", () => {
  it('what each session ran between two readings, how busy they were, and their own rate side by side', () => {
    const before = [{ tiles: 40, seconds: 0.5 }];
    // the first session ran 60 more tiles; two more joined it, one of which ran nothing
    const after = [
      { tiles: 100, seconds: 1.1 },
      { tiles: 50, seconds: 0.5 },
      { tiles: 0, seconds: 0 },
    ];
    const { runs, busy } = sessionRunsBetween(before, after, 1.25);
    assert.deepEqual(
      runs.map((r) => r.tiles),
      [60, 50],
    );
    assert.ok(Math.abs(busy - 1.1 / 1.25) < 1e-9, `busy ${busy}`);
    // side by side: 100 tiles/s each
    assert.ok(Math.abs((inferenceRate(runs) ?? 0) - 200) < 1e-9);
    assert.equal(inferenceRate([]), undefined);
    assert.equal(sessionRunsBetween(after, after, 1).runs.length, 0);
  });
});
