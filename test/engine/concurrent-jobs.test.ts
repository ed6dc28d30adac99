/**
 * `tessella run` runs the jobs of pipelines that do not read each other at once, their datums sharing the
 * machine's slots, and holds a pipeline back while anything it reads has a job running or due.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRepo } from '../../engine/pfs/repos.js';
import { putFiles } from '../../engine/pfs/put-files.js';
import { putPipelines } from '../../engine/pps/pipelines.js';
import { isolation } from '../../engine/worker/sandbox.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { Store } from '../../engine/store/store.js';
import { tempDir } from '../helpers/dirs.js';
import { quiet } from './_engine-helpers.js';

let t: ReturnType<typeof tempDir>;
let n = 0;
before(() => {
  t = tempDir('concurrent-jobs');
});
after(() => t.cleanup());

/** A datum that notes when it starts and ends (outside the store) and takes `seconds`. */
function spec(name: string, input: string, marks: string, seconds: number): string {
  return `pipeline: { name: ${name} }
input: ${input}
transform:
  cmd: [sh]
  stdin:
    - "set -e; echo start ${name} $(date +%s%N) >> ${marks}; sleep ${seconds}; echo ${name} > $PFS_ROOT/out/${name}-$PACH_DATUM_ID; echo end ${name} $(date +%s%N) >> ${marks}"
`;
}

interface Span {
  start: number;
  end: number;
}

function spans(marks: string): Map<string, Span[]> {
  const out = new Map<string, Span[]>();
  const open = new Map<string, number[]>();
  for (const line of readFileSync(marks, 'utf8').trim().split('\n')) {
    const [kind, name, ns] = line.split(' ');
    const at = Number(BigInt(ns) / 1_000_000n);
    if (kind === 'start') open.set(name, [...(open.get(name) ?? []), at]);
    else {
      const starts = open.get(name)!;
      out.set(name, [...(out.get(name) ?? []), { start: starts.shift()!, end: at }]);
    }
  }
  return out;
}

const overlaps = (a: Span, b: Span) => a.start < b.end && b.start < a.end;

async function setUp(cores: string): Promise<{ store: Store; marks: string }> {
  const home = join(t.dir, `home-${n++}`);
  const marks = join(t.dir, `marks-${n++}.txt`);
  writeFileSync(marks, '');
  process.env.TESSELLA_MAX_PARALLEL = cores;
  const store = Store.open(home);
  createRepo(store, 'in');
  const local = join(t.dir, `in-${n++}`);
  mkdirSync(local, { recursive: true });
  writeFileSync(join(local, 'x'), 'x');
  await putFiles(store, 'in', 'master', [{ local: join(local, 'x'), path: '/x' }]);
  rmSync(local, { recursive: true });
  // a and b read only `in`; c reads both; d reads c
  putPipelines(store, parseSpecs(spec('a', '{ pfs: { repo: in, glob: "/*" } }', marks, 1.5), 'a.yaml'));
  putPipelines(store, parseSpecs(spec('b', '{ pfs: { repo: in, glob: "/*" } }', marks, 1.5), 'b.yaml'));
  putPipelines(
    store,
    parseSpecs(
      spec('c', '{ cross: [ { pfs: { repo: a, glob: "/" } }, { pfs: { repo: b, glob: "/" } } ] }', marks, 0.2),
      'c.yaml',
    ),
  );
  putPipelines(store, parseSpecs(spec('d', '{ pfs: { repo: c, glob: "/" } }', marks, 0.2), 'd.yaml'));
  return { store, marks };
}

describe('jobs of pipelines that do not read each other run at once', () => {
  after(() => {
    delete process.env.TESSELLA_MAX_PARALLEL;
  });

  it('a and b at once; c after both, d after c; results in the order the jobs started', async () => {
    const { store, marks } = await setUp('2');
    const results = await runJobs(store, { log: quiet });
    store.close();
    assert.deepEqual(
      results.map((r) => [r.pipeline, r.state, r.processed]),
      [
        ['a', 'success', 1],
        ['b', 'success', 1],
        ['c', 'success', 1],
        ['d', 'success', 1],
      ],
    );
    const s = spans(marks);
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((p) => s.get(p)![0]);
    // without a mount namespace (TESSELLA_ISOLATION copy) strays are found by comparing the store before and after
    // a datum, so jobs take turns there
    if (isolation() === 'namespace')
      assert.ok(overlaps(a, b), `a ${JSON.stringify(a)} and b ${JSON.stringify(b)} ran one after the other`);
    else assert.ok(!overlaps(a, b), 'a and b ran at once without a mount namespace');
    assert.ok(c.start >= Math.max(a.end, b.end), 'c started before a and b were done');
    assert.ok(d.start >= c.end, 'd started before c was done');
  });

  it('one slot (TESSELLA_MAX_PARALLEL=1): a and b take turns, with the same results', async () => {
    const { store, marks } = await setUp('1');
    const results = await runJobs(store, { log: quiet });
    store.close();
    assert.deepEqual(
      results.map((r) => [r.pipeline, r.state]),
      [
        ['a', 'success'],
        ['b', 'success'],
        ['c', 'success'],
        ['d', 'success'],
      ],
    );
    const s = spans(marks);
    assert.ok(!overlaps(s.get('a')![0], s.get('b')![0]), 'a and b ran at once on one slot');
  });
});
