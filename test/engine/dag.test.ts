import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downstreamOf, pipelineOrder } from '../../engine/pps/dag.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { SpecError } from '../../engine/pps/spec/spec-error.js';
import type { PipelineSpec } from '../../engine/pps/spec/pipeline-spec.js';

const repos = new Set(['slides', 'manifest', 'models']);

function spec(name: string, input: string, file = `pipelines/${name}.yaml`): PipelineSpec {
  return parseSpecs(`pipeline: {name: ${name}}\ninput: ${input}\ntransform: {cmd: [sh]}`, file)[0];
}

/** tessella's six stages, in alphabetical (file) order. */
function tessella(): PipelineSpec[] {
  return [
    spec('embed', '{cross: [{pfs: {repo: normalize, glob: "/*"}}, {pfs: {repo: models, glob: "/embed"}}]}'),
    spec('histogram', '{pfs: {repo: normalize, glob: "/*"}}'),
    spec(
      'merge',
      '{cross: [{pfs: {repo: manifest, glob: "/"}}, {pfs: {repo: tile-detect, name: tile_detect, glob: "/", lazy: true}}, {pfs: {repo: embed, glob: "/"}}, {pfs: {repo: histogram, glob: "/"}}]}',
    ),
    spec(
      'normalize',
      '{cross: [{pfs: {repo: tile-extract, name: tile_extract, glob: "/*"}}, {pfs: {repo: models, glob: "/normalize"}}]}',
    ),
    spec('tile-detect', '{pfs: {repo: slides, glob: "/*"}}'),
    spec(
      'tile-extract',
      '{join: [{pfs: {repo: slides, glob: "/(*)", joinOn: "$1"}}, {pfs: {repo: tile-detect, name: tile_detect, glob: "/(*)", joinOn: "$1"}}]}',
    ),
  ];
}

test("topological order of tessella's DAG, ties in the given order", () => {
  assert.deepEqual(
    pipelineOrder(tessella(), repos).map((s) => s.pipeline.name),
    ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram', 'merge'],
  );
  // any input order gives an order where each pipeline follows those it reads
  const shuffled = tessella().reverse();
  const order = pipelineOrder(shuffled, repos).map((s) => s.pipeline.name);
  const pos = (n: string) => order.indexOf(n);
  assert.ok(pos('tile-detect') < pos('tile-extract'));
  assert.ok(pos('tile-extract') < pos('normalize'));
  assert.ok(pos('normalize') < pos('embed') && pos('normalize') < pos('histogram'));
  assert.ok(pos('embed') < pos('merge') && pos('histogram') < pos('merge') && pos('tile-detect') < pos('merge'));
});

test('downstreamOf: a new embed model reaches embed and merge only', () => {
  const ordered = pipelineOrder(tessella(), repos);
  const names = (repo: string) => downstreamOf(repo, ordered).map((s) => s.pipeline.name);
  assert.deepEqual(names('models'), ['normalize', 'embed', 'histogram', 'merge']);
  assert.deepEqual(names('embed'), ['merge']);
  assert.deepEqual(names('manifest'), ['merge']);
  assert.deepEqual(names('slides'), ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram', 'merge']);
});

test('a cycle is an error that names the cycle', () => {
  const specs = [
    spec('a', '{pfs: {repo: slides, glob: "/*"}}'),
    spec('b', '{cross: [{pfs: {repo: a, glob: "/*"}}, {pfs: {repo: d, glob: "/"}}]}'),
    spec('c', '{pfs: {repo: b, glob: "/*"}}'),
    spec('d', '{pfs: {repo: c, glob: "/*"}}'),
  ];
  assert.throws(
    () => pipelineOrder(specs, repos),
    (e: unknown) => {
      assert.ok(e instanceof SpecError);
      assert.match(e.message, /the pipelines form a cycle: (b -> c -> d -> b|c -> d -> b -> c|d -> b -> c -> d)/);
      assert.match(e.message, /^pipelines\/[bcd]\.yaml \(pipeline [bcd]\)/);
      return true;
    },
  );
  assert.throws(() => pipelineOrder([spec('self', '{pfs: {repo: self, glob: "/*"}}')], repos), /cycle: self -> self/);
});

test('an input repo that is neither a repo nor a pipeline is an error naming the file, the field and the repo', () => {
  const specs = [
    spec('tile-detect', '{pfs: {repo: slides, glob: "/*"}}'),
    spec(
      'merge',
      '{cross: [{pfs: {repo: manifest, glob: "/"}}, {pfs: {repo: embeddings, glob: "/"}}]}',
      'pipelines/merge.yaml',
    ),
  ];
  assert.throws(
    () => pipelineOrder(specs, repos),
    (e: unknown) => {
      assert.ok(e instanceof SpecError);
      assert.equal(e.file, 'pipelines/merge.yaml');
      assert.equal(e.field, 'input.cross[1].pfs.repo');
      assert.match(
        e.message,
        /^pipelines\/merge\.yaml \(pipeline merge\): input\.cross\[1\]\.pfs\.repo: input repo "embeddings" is neither a repo \(manifest, models, slides\) nor a pipeline \(merge, tile-detect\)/,
      );
      return true;
    },
  );
});

test('specs that came back from JSON: files given by name; a pipeline defined twice is an error', () => {
  const fromStore = JSON.parse(JSON.stringify([spec('x', '{pfs: {repo: nowhere, glob: "/"}}')])) as PipelineSpec[];
  const messageOf = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return assert.fail('no error');
  };
  assert.match(
    messageOf(() => pipelineOrder(fromStore, repos, { files: new Map([['x', 'stored/x.json']]) })),
    /^stored\/x\.json \(pipeline x\): input\.pfs\.repo/,
  );
  assert.match(
    messageOf(() => pipelineOrder(fromStore, repos)),
    /^pipeline x: input\.pfs\.repo/,
  );
  assert.throws(
    () =>
      pipelineOrder(
        [
          spec('x', '{pfs: {repo: slides, glob: "/"}}', 'one.yaml'),
          spec('x', '{pfs: {repo: slides, glob: "/"}}', 'two.yaml'),
        ],
        repos,
      ),
    /two\.yaml \(pipeline x\): pipeline\.name: "x" is already defined in one\.yaml/,
  );
});
