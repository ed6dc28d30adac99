/**
 * Every spec in pipelines/ is valid for Pachyderm (its own JSON schema, from ../shared/pachyderm, with the quirks
 * FIXTURES.md lists) and for the embedded engine (engine/pps/spec/), runs an entry point the build produces, and
 * reads only the input repos (slides, manifest, models) or other pipelines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv04 from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { pipelineOrder } from '../engine/pps/dag.js';
import { inputsOf, type PipelineSpec } from '../engine/pps/spec/pipeline-spec.js';
import { parseSpecs } from '../engine/pps/spec/load.js';
import { readSpecDocuments } from '../engine/pps/spec/documents.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const pipelinesDir = join(projectRoot, 'pipelines');
const schemaPath = join(resolve(projectRoot, '../shared'), 'pachyderm', 'CreatePipelineRequest.schema.json');
const INPUT_REPOS = new Set(['slides', 'manifest', 'models']);

const specFiles = existsSync(pipelinesDir)
  ? readdirSync(pipelinesDir)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .sort()
      .map((f) => `pipelines/${f}`) // relative to the project root: how errors name them
  : [];
const read = (file: string) => readFileSync(join(projectRoot, file), 'utf8');
const anyFiles = existsSync(pipelinesDir) && readdirSync(pipelinesDir).some((f) => !f.startsWith('.'));
const noSpecs = specFiles.length === 0 && !anyFiles ? 'pipelines/ has no spec files yet' : false;

// ---------------------------------------------------------------------------------------------------------
// Pachyderm's schema, with FIXTURES.md's quirks

/**
 * The schema is draft-04 and puts keywords beside `$ref`, which draft-04 ignores but Ajv applies (and then
 * rejects every property). Rewrites `{"$ref": X, ..., "oneOf": [{"type":"null"}, {}]}` into
 * `{"oneOf": [{"type":"null"}, {"$ref": X}]}`, and any other `$ref` with siblings into the bare `$ref`.
 */
function fixRefSiblings(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(fixRefSiblings);
  if (node === null || typeof node !== 'object') return node;
  const o = node as Record<string, unknown>;
  const siblings = Object.keys(o).filter(
    (k) => !['$ref', '$schema', 'definitions', 'description', 'title'].includes(k),
  );
  if (typeof o.$ref === 'string' && siblings.length > 0) {
    const nullable = Array.isArray(o.oneOf) && o.oneOf.some((s) => (s as { type?: unknown } | null)?.type === 'null');
    return nullable ? { oneOf: [{ type: 'null' }, { $ref: o.$ref }] } : { $ref: o.$ref };
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fixRefSiblings(v)]));
}

type Validate = ((doc: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string; params?: unknown }[] | null;
};

function pachydermValidator(schema: unknown): Validate {
  // CommonJS modules: under tsx the default import is the export itself, under NodeNext typings it has .default
  const AjvClass = ((Ajv04 as unknown as { default?: unknown }).default ?? Ajv04) as typeof Ajv04.default;
  const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
    addFormatsModule) as typeof addFormatsModule.default;
  const ajv = new AjvClass({ allErrors: true, strict: false });
  addFormats(ajv, ['regex', 'date-time']);
  return ajv.compile(fixRefSiblings(schema) as object) as Validate;
}

/** Problems with one raw (camelCased) document: the schema's, and what only the server checks. */
function pachydermProblems(validate: Validate, doc: unknown): string[] {
  const problems: string[] = [];
  if (!validate(doc)) {
    for (const e of validate.errors ?? []) {
      // oneOf branches repeat the real error; keep the ones that say something
      if (e.message === 'must match exactly one schema in oneOf' || e.message === 'must be null') continue;
      problems.push(`${e.instancePath || '/'}: ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
    }
    if (problems.length === 0) problems.push('rejected by the schema');
  }
  const reprocess = (doc as { reprocessSpec?: unknown }).reprocessSpec;
  if (reprocess !== undefined && reprocess !== 'until_success' && reprocess !== 'every_job') {
    problems.push(`/reprocessSpec: must be "until_success" or "every_job" (got ${JSON.stringify(reprocess)})`);
  }
  return problems;
}

const schemaMissing = existsSync(schemaPath)
  ? false
  : `Pachyderm's schema is absent (${schemaPath}); ../shared is provided for development and CI`;

test('the schema validator is not vacuous: it accepts a good spec and rejects bad ones', {
  skip: schemaMissing,
}, () => {
  const validate = pachydermValidator(JSON.parse(readFileSync(schemaPath, 'utf8')));
  const good = readSpecDocuments(
    `pipeline: {name: embed}
input:
  cross:
    - pfs: {repo: normalize, glob: "/*", name: tiles}
    - pfs: {repo: models, glob: "/embed", lazy: true}
transform:
  image: tessella-gpu:latest
  cmd: [node, dist/stages/embed/main.js]
  working_dir: /app
  env: {BATCH_SIZE: "32", some_var: "x"}
parallelism_spec: {constant: 1}
resource_limits: {gpu: {type: nvidia.com/gpu, number: 1}, memory: 8Gi}
resource_requests: {cpu: 2, memory: 4Gi}
scheduling_spec: {node_selector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}}
tolerations: [{key: nvidia.com/gpu, operator: EXISTS, effect: NO_SCHEDULE}]
autoscaling: true
datum_tries: 3
datum_timeout: 3600s
reprocess_spec: until_success
`,
    'good.yaml',
  )[0];
  assert.deepEqual(pachydermProblems(validate, good), []);
  const bad = (patch: Record<string, unknown>) => pachydermProblems(validate, { ...(good as object), ...patch });
  assert.match(bad({ datumTimeout: '1h' }).join('\n'), /\/datumTimeout: must match pattern/);
  assert.match(bad({ unknownField: 1 }).join('\n'), /must NOT have additional properties/);
  assert.match(bad({ transform: { cmd: ['sh'], env: { N: 3 } } }).join('\n'), /\/transform\/env\/N: must be string/);
  assert.match(bad({ reprocessSpec: 'always' }).join('\n'), /reprocessSpec: must be "until_success" or "every_job"/);
  assert.match(
    bad({ input: { pfs: { repo: 'x', glob: '/', join_on: '$1' } } }).join('\n'),
    /\/input\/pfs: must NOT have additional properties/,
  );
});

test('pipelines/ holds at least one spec once it has files', { skip: noSpecs }, () => {
  assert.ok(specFiles.length > 0, `pipelines/ has files but no *.yaml, *.yml or *.json spec`);
});

test("every pipeline spec validates against Pachyderm's own JSON schema", { skip: schemaMissing || noSpecs }, () => {
  const validate = pachydermValidator(JSON.parse(readFileSync(schemaPath, 'utf8')));
  const failures: string[] = [];
  for (const file of specFiles) {
    const docs = readSpecDocuments(read(file), file);
    docs.forEach((doc, i) => {
      for (const p of pachydermProblems(validate, doc))
        failures.push(`${file}${docs.length > 1 ? ` (document ${i + 1})` : ''}: ${p}`);
    });
  }
  assert.deepEqual(failures, []);
});

/** Specs from every file (engine/pps/spec/ validation: throws SpecError naming file and field). */
function allSpecs(): PipelineSpec[] {
  return specFiles.flatMap((f) => parseSpecs(read(f), f));
}

test('every pipeline spec is valid for the embedded engine', { skip: noSpecs }, () => {
  for (const file of specFiles) assert.doesNotThrow(() => parseSpecs(read(file), file));
});

test('every cmd runs an entry point the build produces (dist/<x>.js from <x>.ts)', { skip: noSpecs }, () => {
  for (const spec of allSpecs()) {
    const words = [...spec.transform.cmd, ...(spec.transform.stdin ?? [])].join(' ');
    const entries = [...words.matchAll(/(?:^|[\s/])dist\/(\S+?)\.js\b/g)].map((m) => m[1]);
    assert.ok(entries.length > 0, `pipeline ${spec.pipeline.name}: cmd names no dist/<...>.js entry point: ${words}`);
    for (const entry of entries) {
      const source = join(projectRoot, `${entry}.ts`);
      assert.ok(
        existsSync(source),
        `pipeline ${spec.pipeline.name}: cmd runs dist/${entry}.js but ${entry}.ts does not exist`,
      );
    }
  }
});

test('every input repo is slides, manifest, models or another pipeline, without cycles', { skip: noSpecs }, () => {
  const specs = allSpecs();
  const order = pipelineOrder(specs, INPUT_REPOS); // throws SpecError naming file, field and repo
  assert.equal(order.length, specs.length);
  for (const spec of specs) {
    for (const pfs of inputsOf(spec.input)) {
      assert.ok(
        INPUT_REPOS.has(pfs.repo) || specs.some((s) => s.pipeline.name === pfs.repo),
        `${spec.pipeline.name}: input repo ${pfs.repo}`,
      );
    }
  }
});

test('specs follow the stage contract: inputs named as shell variables, workingDir /app, images the deploy script substitutes', {
  skip: noSpecs,
}, () => {
  for (const spec of allSpecs()) {
    const name = spec.pipeline.name;
    for (const pfs of inputsOf(spec.input)) {
      assert.match(
        pfs.name,
        /^[A-Za-z_][A-Za-z0-9_]*$/,
        `${name}: input "${pfs.name}" cannot be read as a shell variable: set name with "_" (e.g. tile_detect)`,
      );
    }
    assert.equal(spec.transform.workingDir, '/app', `${name}: transform.workingDir`);
    assert.match(
      spec.transform.image ?? '',
      /^tessella-(cpu|gpu):latest$/,
      `${name}: transform.image is a placeholder scripts/deploy-cluster.sh replaces`,
    );
    const gpuImage = spec.transform.image === 'tessella-gpu:latest';
    const gpuRequest = (spec.resourceLimits?.gpu?.number ?? 0) > 0;
    assert.equal(gpuRequest, gpuImage, `${name}: a GPU image goes with resourceLimits.gpu, and a CPU image without it`);
  }
});
