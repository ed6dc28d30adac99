import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { camelizeKeys, readSpecDocuments } from '../../engine/pps/spec/documents.js';
import { inputLeaves, inputsOf, parseDurationSeconds } from '../../engine/pps/spec/pipeline-spec.js';
import { loadSpecFile, parseSpecs, sourceOf } from '../../engine/pps/spec/load.js';
import { SpecError } from '../../engine/pps/spec/spec-error.js';

const minimal = `
pipeline: {name: tile-detect}
input: {pfs: {repo: slides, glob: "/*"}}
transform: {cmd: [node, dist/stages/tile-detect/main.js]}
`;

/** The SpecError a spec text raises. */
function errorOf(text: string, file = 'pipelines/bad.yaml'): SpecError {
  try {
    parseSpecs(text, file);
  } catch (e) {
    assert.ok(e instanceof SpecError, `expected a SpecError, got ${e}`);
    return e;
  }
  assert.fail('the spec was accepted');
}

test("a minimal spec gets Pachyderm's defaults", () => {
  const [s] = parseSpecs(minimal, 'p.yaml');
  assert.equal(s.pipeline.name, 'tile-detect');
  assert.deepEqual(s.input, { pfs: { repo: 'slides', glob: '/*', name: 'slides', branch: 'master' } });
  assert.equal(s.datumTries, 3);
  assert.equal(s.reprocessSpec, 'until_success');
  assert.equal(sourceOf(s), 'p.yaml');
});

test('snake_case keys become camelCase, except inside env, nodeSelector, labels, annotations', () => {
  const [s] = parseSpecs(
    `
pipeline: {name: embed}
input:
  cross:
    - pfs: {repo: normalize, glob: "/*", name: tiles, empty_files: false}
    - pfs: {repo: models, glob: "/embed", lazy: true}
transform:
  cmd: [node, dist/stages/embed/main.js]
  working_dir: /app
  env: {BATCH_SIZE: "32", execution_providers: "cuda,cpu", some_thing: "x"}
parallelism_spec: {constant: 2}
datum_tries: 5
datum_timeout: 3600s
reprocess_spec: every_job
resource_limits: {gpu: {type: nvidia.com/gpu, number: 1}, memory: 8Gi}
resource_requests: {cpu: 2, memory: 4Gi}
scheduling_spec: {node_selector: {cloud.google.com/gke_accelerator: nvidia-tesla-t4, node_pool: gpu}}
metadata: {labels: {team_name: path}, annotations: {owner_email: a@b}}
pod_patch: '[{"op": "add", "path": "/x", "value": 1}]'
autoscaling: true
tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
`,
    'embed.yaml',
  );
  assert.equal(s.transform.workingDir, '/app');
  assert.deepEqual(s.transform.env, { BATCH_SIZE: '32', execution_providers: 'cuda,cpu', some_thing: 'x' });
  assert.deepEqual(s.parallelismSpec, { constant: 2 });
  assert.equal(s.datumTries, 5);
  assert.equal(s.datumTimeout, '3600s');
  assert.equal(s.reprocessSpec, 'every_job');
  assert.deepEqual(s.resourceLimits?.gpu, { type: 'nvidia.com/gpu', number: 1 });
  assert.deepEqual(s.schedulingSpec?.nodeSelector, {
    'cloud.google.com/gke_accelerator': 'nvidia-tesla-t4',
    node_pool: 'gpu',
  });
  assert.deepEqual(s.metadata?.labels, { team_name: 'path' });
  assert.deepEqual(s.metadata?.annotations, { owner_email: 'a@b' });
  // fields the engine does not use are kept, so the spec can be shown as given
  assert.equal(s.autoscaling, true);
  assert.equal(s.podPatch, '[{"op": "add", "path": "/x", "value": 1}]');
  assert.deepEqual(s.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  const leaves = inputsOf(s.input);
  assert.deepEqual(
    leaves.map((p) => p.name),
    ['tiles', 'models'],
  );
  assert.equal(leaves[0].emptyFiles, false);
  assert.equal(leaves[1].lazy, true);
  assert.deepEqual(
    inputLeaves(s.input).map((l) => l.field),
    ['input.cross[0].pfs', 'input.cross[1].pfs'],
  );
});

test("Pachyderm's fields the engine does not run are kept, also inside transform and pfs", () => {
  const [s] = parseSpecs(
    `
pipeline: {name: a}
input: {pfs: {repo: r, glob: "/", s3: false}}
transform: {cmd: [sh], image: "tessella-cpu:latest", image_pull_secrets: [regcred]}
sidecar_resource_limits: {cpu: 1}
`,
    'a.yaml',
  );
  const t = s.transform as Record<string, unknown>;
  assert.equal(t.image, 'tessella-cpu:latest');
  assert.deepEqual(t.imagePullSecrets, ['regcred']);
  assert.deepEqual((s as Record<string, unknown>).sidecarResourceLimits, { cpu: 1 });
  assert.equal((inputsOf(s.input)[0] as Record<string, unknown>).s3, false);
});

test('several documents: YAML --- and a stream of JSON objects; an array of specs', () => {
  const yaml = `${minimal}\n---\n${minimal.replace(/tile-detect/g, 'histogram')}\n---\n`;
  assert.deepEqual(
    parseSpecs(yaml, 'two.yaml').map((s) => s.pipeline.name),
    ['tile-detect', 'histogram'],
  );
  const obj = (name: string) => ({
    pipeline: { name },
    input: { pfs: { repo: 'slides', glob: '/*' } },
    transform: { cmd: ['sh'] },
  });
  const stream = `${JSON.stringify(obj('a'), null, 2)}\n${JSON.stringify(obj('b'))}{"pipeline":{"name":"c"},"input":{"pfs":{"repo":"x","glob":"/"}},"transform":{"cmd":["echo", "}{"]}}`;
  assert.deepEqual(
    parseSpecs(stream, 's.json').map((s) => s.pipeline.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    parseSpecs(JSON.stringify([obj('x'), obj('y')]), 'arr.json').map((s) => s.pipeline.name),
    ['x', 'y'],
  );
  // YAML in flow style also opens with '{'
  assert.deepEqual(
    parseSpecs('{pipeline: {name: f}, input: {pfs: {repo: r, glob: /*}}, transform: {cmd: [sh]}}', 'flow.yaml').map(
      (s) => s.pipeline.name,
    ),
    ['f'],
  );
});

test('errors name the file, the document, the pipeline, the field path and what is allowed', () => {
  const e = errorOf(`
pipeline: {name: merge}
input:
  cross:
    - pfs: {repo: manifest, glob: "/"}
    - pfs: {repo: embed}
transform: {cmd: [node, x.js]}
`);
  assert.equal(e.file, 'pipelines/bad.yaml');
  assert.equal(e.field, 'input.cross[1].pfs.glob');
  assert.match(e.message, /^pipelines\/bad\.yaml \(pipeline merge\): input\.cross\[1\]\.pfs\.glob: required: a string/);

  const second = errorOf(
    `${minimal}\n---\npipeline: {name: b}\ninput: {pfs: {repo: r, glob: "/"}}\ntransform: {}\n`,
    'multi.yaml',
  );
  assert.match(
    second.message,
    /^multi\.yaml \(document 2\) \(pipeline b\): transform\.cmd: required: the command to run/,
  );
  assert.equal(second.field, 'transform.cmd');
});

test('a missing transform.cmd, or an empty one, is an error', () => {
  assert.match(
    errorOf(`pipeline: {name: a}\ninput: {pfs: {repo: r, glob: "/"}}\ntransform: {image: x}`).message,
    /transform\.cmd: required/,
  );
  assert.match(
    errorOf(`pipeline: {name: a}\ninput: {pfs: {repo: r, glob: "/"}}\ntransform: {cmd: []}`).message,
    /transform\.cmd: transform\.cmd needs at least the program/,
  );
  assert.match(
    errorOf(`pipeline: {name: a}\ninput: {pfs: {repo: r, glob: "/"}}`).message,
    /transform: required: an object with at least cmd/,
  );
});

test('env values must be strings, and the error says so', () => {
  const e = errorOf(
    `pipeline: {name: a}\ninput: {pfs: {repo: r, glob: "/"}}\ntransform: {cmd: [sh], env: {MAX_TILES: 100, FAST: true}}`,
  );
  assert.equal(e.field, 'transform.env.MAX_TILES');
  assert.match(
    e.message,
    /transform\.env\.MAX_TILES: environment values must be strings \(Pachyderm's rule\): quote numbers and booleans/,
  );
  assert.match(e.message, /transform\.env\.FAST:/);
});

test('other spec errors: durations, reprocessSpec, names, inputs', () => {
  const base = (extra: string, input = 'pfs: {repo: r, glob: "/*"}') =>
    `pipeline: {name: p}\ninput: {${input}}\ntransform: {cmd: [sh]}\n${extra}`;
  assert.match(
    errorOf(base('datumTimeout: 1h')).message,
    /datumTimeout: a protobuf JSON duration: seconds with an "s" suffix, e\.g\. "3600s"/,
  );
  assert.match(
    errorOf(base('reprocessSpec: always')).message,
    /reprocessSpec: must be one of "until_success", "every_job"/,
  );
  assert.match(errorOf(base('datumTries: "3"')).message, /datumTries: must be a number/);
  assert.match(
    errorOf(`pipeline: {name: "bad name"}\ninput: {pfs: {repo: r, glob: "/"}}\ntransform: {cmd: [sh]}`).message,
    /pipeline\.name: letters, digits/,
  );
  assert.match(errorOf(base('', '')).message, /input: an input needs exactly one of pfs, cross, union, join, group/);
  assert.match(
    errorOf(base('', 'pfs: {repo: a, glob: "/"}, cross: [{pfs: {repo: b, glob: "/"}}]')).message,
    /not pfs and cross/,
  );
  assert.match(
    errorOf(base('', 'cron: {name: tick, spec: "@every 1m"}')).message,
    /input\.cron: "cron" inputs are not run by the embedded engine/,
  );
  assert.match(
    errorOf(base('', 'cross: [{pfs: {repo: a, glob: "/*"}}, {pfs: {repo: a, glob: "/"}}]')).message,
    /input\.cross\[1\]\.pfs\.name: input name "a" is also used by input\.cross\[0\]\.pfs/,
  );
  assert.match(errorOf(base('', 'pfs: {repo: out, glob: "/"}')).message, /"out" is reserved/);
  assert.match(
    errorOf(base('', 'join: [{pfs: {repo: a, glob: "/(*)", joinOn: "$1"}}, {pfs: {repo: b, glob: "/*"}}]')).message,
    /input\.join\[1\]\.pfs\.joinOn: a join input needs joinOn/,
  );
  assert.match(
    errorOf(
      base('', 'join: [{pfs: {repo: a, glob: "/(*)", joinOn: "$2"}}, {pfs: {repo: b, glob: "/(*)", joinOn: "$1"}}]'),
    ).message,
    /input\.join\[0\]\.pfs\.joinOn: \$2 refers to capture group \$2, but the glob "\/\(\*\)" has 1/,
  );
  assert.match(
    errorOf(base('', 'group: [{pfs: {repo: a, glob: "/*"}}]')).message,
    /groupBy: a group input needs groupBy/,
  );
  assert.match(
    errorOf(base('', 'pfs: {repo: a, glob: "/[ab"}')).message,
    /input\.pfs\.glob: invalid glob "\/\[ab": '\[' at 1 has no closing '\]'/,
  );
  assert.match(errorOf(base('', 'pfs: {repo: a, glob: "/", datum_tries: 1, datumTries: 2}')).message, /given twice/);
  assert.match(errorOf('pipeline: [oops', 'broken.yaml').message, /^broken\.yaml:\d+:\d+: not valid YAML/);
  assert.match(errorOf('{"pipeline": ', 'broken.json').message, /^broken\.json: not valid JSON/);
  assert.match(errorOf('', 'empty.yaml').message, /empty\.yaml: no pipeline spec in the file/);
});

test('protobuf durations', () => {
  assert.equal(parseDurationSeconds('3600s'), 3600);
  assert.equal(parseDurationSeconds('1.5s'), 1.5);
  assert.equal(parseDurationSeconds('.5s'), 0.5);
  assert.throws(() => parseDurationSeconds('1h'), /protobuf JSON durations/);
  assert.throws(() => parseDurationSeconds('60'), SpecError);
});

test('camelizeKeys and readSpecDocuments keep the raw documents (no defaults)', () => {
  assert.deepEqual(camelizeKeys({ a_b: [{ c_d: 1 }], env: { X_Y: 'z' } }), { aB: [{ cD: 1 }], env: { X_Y: 'z' } });
  // null is a field left out, as protobuf JSON reads it (a YAML key with nothing after it)
  assert.deepEqual(camelizeKeys({ description: null, transform: { cmd: ['sh'], stdin: null } }), {
    transform: { cmd: ['sh'] },
  });
  assert.equal(parseSpecs(`${minimal}description:\nparallelism_spec:\n`, 'nulls.yaml')[0].parallelismSpec, undefined);
  const [doc] = readSpecDocuments(minimal.replace('glob', 'glob') + 'datum_tries: 2\n', 'x.yaml');
  assert.deepEqual(doc, {
    pipeline: { name: 'tile-detect' },
    input: { pfs: { repo: 'slides', glob: '/*' } },
    transform: { cmd: ['node', 'dist/stages/tile-detect/main.js'] },
    datumTries: 2,
  });
});

test('loadSpecFile reads a file and names it in errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessella-spec-'));
  try {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, minimal);
    assert.equal(loadSpecFile(good)[0].pipeline.name, 'tile-detect');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ pipeline: { name: 'x' }, input: { pfs: { repo: 'r', glob: '/' } } }));
    assert.throws(
      () => loadSpecFile(bad),
      (e: SpecError) => e.file === bad && e.message.startsWith(`${bad} (pipeline x): transform`),
    );
    assert.throws(() => loadSpecFile(join(dir, 'missing.yaml')), /cannot read the spec file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
