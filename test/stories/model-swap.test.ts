/**
 * The model-swap story through the engine's CLI, as a user lives it:
 *   a cohort is processed; a new /embed/model.onnx is committed -> embed (then merge) re-runs, while tile-detect,
 *   tile-extract, normalize and histogram run 0 datums; a new /normalize/model.onnx -> normalize, embed and
 *   histogram re-run, tile-detect and tile-extract run 0 datums.
 * The project's own pipeline specs are used, with `node dist/stages/X/main.js` run from the sources
 * (`node --import tsx stages/X/main.ts`) so the test needs no build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pipelineNamesIn } from '../../app/spec-folder.js';
import { buildModels } from '../../scripts/models/build.js';
import { readSafetensors } from '../../shared/safetensors.js';
import { projectRoot, sharedDir } from '../onnx/helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { fixtureSlideFolders } from '../helpers/fixture-slides.js';
import { sourceCli } from '../helpers/source-cli.js';

const SLIDES = ['cmu-1-small-region.pyramid.tiff', 'os-1-detail.pyramid.tiff'];
const STAGES = pipelineNamesIn(join(projectRoot, 'pipelines'));

function skipReason(): string | false {
  for (const s of SLIDES)
    if (!existsSync(join(sharedDir, 'fixtures/slides', s))) return `needs ../shared/fixtures/slides/${s}`;
  return false;
}

describe('story: swapping models re-runs only what depends on them', { skip: skipReason() }, () => {
  const tmp = tempDir('model-swap');
  const home = join(tmp.dir, 'home');
  const lines = (s: string) =>
    s
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const { ok: tessella } = sourceCli(home);
  /** Datums processed per pipeline by the jobs that are new since `seen`. */
  const processedSince = (seen: Set<string>) => {
    const per: Record<string, number> = Object.fromEntries(STAGES.map((s) => [s, 0]));
    for (const j of lines(tessella('list', 'job', '-o', 'json'))) {
      if (seen.has(j.job.id + j.job.pipeline)) continue;
      assert.equal(j.state, 'success', `job ${j.job.pipeline}@${j.job.id}: ${j.state} ${j.reason ?? ''}`);
      per[j.job.pipeline] += j.data_processed;
    }
    return per;
  };
  const jobIds = () => new Set(lines(tessella('list', 'job', '-o', 'json')).map((j) => j.job.id + j.job.pipeline));
  const embeddingsOf = (slide: string) => {
    const file = join(tmp.dir, `emb-${slide}-${Date.now()}.safetensors`);
    writeFileSync(
      file,
      spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          join(projectRoot, 'app', 'cli.ts'),
          'get',
          'file',
          `embed@master:/${slide}/embeddings.safetensors`,
        ],
        {
          cwd: projectRoot,
          env: { ...process.env, TESSELLA_HOME: home },
          maxBuffer: 1 << 28,
        },
      ).stdout,
    );
    return readSafetensors(file);
  };
  /** One commit per model folder, as a user commits a new model and its card together. */
  const putModels = (dir: string) => {
    for (const task of readdirSync(dir)) tessella('put', 'file', `models@master:/${task}`, '-r', '-f', join(dir, task));
  };

  before(() => {
    // The project's specs, run from the sources.
    const specs = join(tmp.dir, 'pipelines');
    mkdirSync(specs);
    for (const s of STAGES) {
      const text = readFileSync(join(projectRoot, 'pipelines', `${s}.yaml`), 'utf8').replace(
        /\[\s*"?node"?\s*,\s*"?dist\/stages\/([\w-]+)\/main\.js"?\s*\]/,
        (_m, stage: string) => `["node", "--import", "tsx", "stages/${stage}/main.ts"]`,
      );
      assert.match(text, /--import", "tsx"/, `pipelines/${s}.yaml: cmd not recognised`);
      writeFileSync(join(specs, `${s}.yaml`), text);
    }
    const slides = fixtureSlideFolders(join(tmp.dir, 'slides'), SLIDES);
    writeFileSync(
      join(tmp.dir, 'manifest.csv'),
      'image_id,patient_id,center_id,label\ncmu-1-small-region,p1,1,CE\nos-1-detail,p2,2,LAA\n',
    );
    buildModels({ out: join(tmp.dir, 'models-v1'), normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
    buildModels({ out: join(tmp.dir, 'embed-v2'), normalize: 'none', shift: [0, 0, 0], embed: 'tiny', seed: 2 });
    buildModels({ out: join(tmp.dir, 'normalize-v2'), normalize: 'shift', shift: [12, -8, 4], embed: 'none', seed: 0 });

    tessella('init', '--pipelines', specs);
    tessella('put', 'file', 'slides@master:/', '-r', '-f', slides);
    tessella('put', 'file', 'manifest@master:/manifest.csv', '-f', join(tmp.dir, 'manifest.csv'));
    putModels(join(tmp.dir, 'models-v1'));
    tessella('run');
  });
  after(() => tmp.cleanup());

  it('the first run processes every slide through every stage', () => {
    const per = processedSince(new Set());
    for (const s of ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram'])
      assert.ok(per[s] >= 2, `${s} processed ${per[s]} datums`);
    assert.ok(per.merge >= 1);
    const e = embeddingsOf('os-1-detail');
    assert.equal(e.tensors.avg.shape[1], 1280);
  });

  it('a new /embed model re-runs embed and merge only', () => {
    const before = embeddingsOf('os-1-detail');
    const seen = jobIds();
    putModels(join(tmp.dir, 'embed-v2'));
    tessella('run');
    const per = processedSince(seen);
    assert.deepEqual(
      {
        'tile-detect': per['tile-detect'],
        'tile-extract': per['tile-extract'],
        normalize: per.normalize,
        histogram: per.histogram,
      },
      { 'tile-detect': 0, 'tile-extract': 0, normalize: 0, histogram: 0 },
    );
    assert.equal(per.embed, 2, 'every slide re-embedded');
    assert.ok(per.merge >= 1, 'merge re-ran');
    const after = embeddingsOf('os-1-detail');
    assert.notEqual(after.metadata.model_sha256, before.metadata.model_sha256);
    assert.deepEqual(after.tensors.avg.shape, before.tensors.avg.shape);
  });

  it('a new /normalize model re-runs normalize, embed and histogram, not the tile stages', () => {
    const seen = jobIds();
    putModels(join(tmp.dir, 'normalize-v2'));
    tessella('run');
    const per = processedSince(seen);
    assert.equal(per['tile-detect'], 0);
    assert.equal(per['tile-extract'], 0);
    assert.equal(per.normalize, 2);
    assert.equal(per.embed, 2);
    assert.equal(per.histogram, 2);
    assert.ok(per.merge >= 1);
  });
});
