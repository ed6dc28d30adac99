/**
 * Every parameter a pipeline spec sets (`transform.env`) is one its stage reads: parseEnv takes only its schema's
 * keys, so a misspelt key in a spec would otherwise be silently ignored and the default used. And every parameter
 * a stage reads is written in its spec, so the spec documents them all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as z from 'zod';
import { parseSpecs } from '../engine/pps/spec/load.js';
import { ConfigError, envSwitch } from '../shared/config.js';
import { RUNTIME_VARIABLES, STAGE_PARAMETERS } from '../shared/stage-parameters.js';
import { EmbedConfigSchema } from '../stages/embed/config.js';
import { ManifestMppConfigSchema } from '../stages/manifest-mpp/config.js';
import { HistogramConfigSchema } from '../stages/histogram/config.js';
import { MergeConfigSchema } from '../stages/cohort/merge-config.js';
import { NormalizeConfigSchema } from '../stages/normalize/config.js';
import { DetectConfigSchema } from '../stages/tile-detect/config.js';
import { ExtractConfigSchema } from '../stages/tile-extract/config.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** Each stage's parameters; null for a stage that reads none (merge's are all merge-assign's). */
const STAGE_SCHEMAS: Record<string, z.ZodObject | null> = {
  'manifest-mpp': ManifestMppConfigSchema,
  'tile-detect': DetectConfigSchema,
  'tile-extract': ExtractConfigSchema,
  normalize: NormalizeConfigSchema,
  embed: EmbedConfigSchema,
  histogram: HistogramConfigSchema,
  'merge-assign': MergeConfigSchema,
  'merge-slide': null,
  'merge-shard': null,
  merge: null,
};

/** What is wrong between a spec's env and its stage's schema, one line each. */
function envProblems(pipeline: string, env: Record<string, unknown>, schema: z.ZodObject | null): string[] {
  const known = new Set(schema ? Object.keys(schema.shape) : []);
  const reads = [...known].join(', ') || 'none';
  const problems = Object.keys(env)
    .filter((k) => !known.has(k) && !RUNTIME_VARIABLES.includes(k))
    .map((k) => `${pipeline}: transform.env.${k} is not a parameter of the stage (it reads ${reads})`);
  for (const k of known) {
    if (!(k in env)) problems.push(`${pipeline}: the stage reads ${k} but the spec does not set it`);
  }
  return problems;
}

const specs = readdirSync(join(projectRoot, 'pipelines'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((f) => parseSpecs(readFileSync(join(projectRoot, 'pipelines', f), 'utf8'), `pipelines/${f}`));

test('every transform.env key of every pipeline is in its stage config schema, every parameter in the spec', () => {
  assert.ok(specs.length >= 10, 'the pipelines are read');
  const problems: string[] = [];
  for (const spec of specs) {
    const stage = spec.transform.cmd.join(' ').match(/dist\/stages\/([\w-]+)\/main\.js/)?.[1];
    assert.ok(stage, `${spec.pipeline.name}: cmd runs no dist/stages/<stage>/main.js`);
    assert.ok(stage in STAGE_SCHEMAS, `${spec.pipeline.name}: stage ${stage} is not in STAGE_SCHEMAS; add its schema`);
    const env = (spec.transform.env ?? {}) as Record<string, unknown>;
    problems.push(...envProblems(spec.pipeline.name, env, STAGE_SCHEMAS[stage]));
  }
  assert.deepEqual(problems, []);
});

test('the check is not vacuous: a misspelt key and a missing one are both named', () => {
  const env = {
    TILE_SIZE: '448',
    TILE_UM: '0',
    TARGET_MPP: '0',
    DOWNSAMPLE: '16',
    BACKGROUND_THRESHOLDS: '200',
    MAX_BACKGROUND_FRACTION: '0.1',
    MAX_TILES: '0',
    QC_MAX_SIDE: '2048',
  };
  const reads =
    'TILE_SIZE, TILE_UM, TARGET_MPP, DOWNSAMPLE, BACKGROUND_THRESHOLD, MAX_BACKGROUND_FRACTION, MAX_TILES, QC_MAX_SIDE';
  assert.deepEqual(envProblems('tile-detect', env, DetectConfigSchema), [
    `tile-detect: transform.env.BACKGROUND_THRESHOLDS is not a parameter of the stage (it reads ${reads})`,
    'tile-detect: the stage reads BACKGROUND_THRESHOLD but the spec does not set it',
  ]);
  assert.deepEqual(envProblems('merge', { COMPRESSION: 'gzip' }, null), [
    'merge: transform.env.COMPRESSION is not a parameter of the stage (it reads none)',
  ]);
});

test("the stage frame's list of parameters (shared/stage-parameters.ts) is each stage's schema, name for name", () => {
  const fromSchemas = Object.fromEntries(
    Object.entries(STAGE_SCHEMAS).map(([stage, schema]) => [stage, schema ? Object.keys(schema.shape).sort() : []]),
  );
  const listed = Object.fromEntries(
    Object.entries(STAGE_PARAMETERS).map(([stage, names]) => [stage, [...names].sort()]),
  );
  assert.deepEqual(listed, fromSchemas);
});

test("the runtime's on/off switches are on unless off, and refuse any other value by name", () => {
  assert.equal(envSwitch('TESSELLA_DIRECT_TILES', {}), true);
  assert.equal(envSwitch('TESSELLA_DIRECT_TILES', { TESSELLA_DIRECT_TILES: 'OFF' }), false);
  assert.equal(envSwitch('TESSELLA_COLOUR_TABLE', { TESSELLA_COLOUR_TABLE: 'on' }), true);
  assert.throws(
    () => envSwitch('TESSELLA_COLOUR_TABLE', { TESSELLA_COLOUR_TABLE: 'no' }),
    (err: Error) =>
      err instanceof ConfigError && /TESSELLA_COLOUR_TABLE: expected one of on, off, got 'no'/.test(err.message),
  );
});
