/**
 * The encoder-swap story through the engine's CLI: a cohort embedded with EfficientNet-B0 (mean and max of its map)
 * gets a ViT token model whose card pools `cls+mean` committed to /embed. Every slide is re-embedded, nothing upstream
 * of embed runs, and the dataset's records carry the new vectors (embedding_cls, embedding_avg) at the new width,
 * listed in dataset.json's feature spec (read back by the project's reader and by the documented Python reader). The
 * ViT's card says it was trained at 0.5 um/px, and these slides' 448 px tiles seen at 224 px are ~1 um/px: the report
 * warns, the dataset is still written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pipelineNamesIn } from '../../app/spec-folder.js';
import { buildModels } from '../../scripts/models/build.js';
import { writeEfficientNetB0Folder } from '../../scripts/models/write.js';
import { readDatasetJson } from '../../shared/contract/index.js';
import { main as datasetCli } from '../../app/verbs/dataset.js';
import { readPatients } from '../../shared/dataset-reader.js';
import { fixtureModel, projectRoot, sharedDir } from '../onnx/helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { writeSourceSpecs } from '../helpers/source-specs.js';
import { fixtureSlideFolders } from '../helpers/fixture-slides.js';
import { sourceCli } from '../helpers/source-cli.js';

const SLIDES = ['cmu-1-small-region.pyramid.tiff', 'os-1-detail.pyramid.tiff'];
const STAGES = pipelineNamesIn(join(projectRoot, 'pipelines'));
const VIT_DIM = 64;

function skipReason(): string | false {
  for (const s of SLIDES)
    if (!existsSync(join(sharedDir, 'fixtures/slides', s))) return `needs ../shared/fixtures/slides/${s}`;
  if (!existsSync(fixtureModel)) return `needs ${fixtureModel} (the EfficientNet-B0 cohort's model)`;
  return false;
}

const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
const noNumpy = numpy.error || numpy.status !== 0 ? 'python3 with NumPy is not available' : false;

describe('story: a ViT with cls+mean pooling replaces EfficientNet-B0', { skip: skipReason() }, () => {
  const tmp = tempDir('vit-swap');
  const home = join(tmp.dir, 'home');
  const { ok: tessella } = sourceCli(home, 600_000);
  const jobs = () =>
    tessella('list', 'job', '-o', 'json')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const putModel = (dir: string) => tessella('put', 'file', `models@master:/${dir.split('/').pop()}`, '-r', '-f', dir);
  /** merge's output as a user gets it. */
  const dataset = (name: string) => {
    const out = join(tmp.dir, name);
    tessella('get', 'file', 'merge@master:/', '-r', '-o', out);
    return out;
  };

  before(() => {
    const specs = writeSourceSpecs(join(tmp.dir, 'pipelines'));
    const slides = fixtureSlideFolders(join(tmp.dir, 'slides'), SLIDES);
    writeFileSync(
      join(tmp.dir, 'manifest.csv'),
      'image_id,patient_id,center_id,label\ncmu-1-small-region,p1,1,CE\nos-1-detail,p2,2,LAA\n',
    );
    buildModels({ out: join(tmp.dir, 'b0'), normalize: 'identity', shift: [0, 0, 0], embed: 'none', seed: 0 });
    writeEfficientNetB0Folder(join(tmp.dir, 'b0', 'embed'), fixtureModel);
    buildModels({ out: join(tmp.dir, 'vit'), normalize: 'none', shift: [0, 0, 0], embed: 'tiny-vit', seed: 7 });

    tessella('init', '--pipelines', specs);
    tessella('put', 'file', 'slides@master:/', '-r', '-f', slides);
    tessella('put', 'file', 'manifest@master:/manifest.csv', '-f', join(tmp.dir, 'manifest.csv'));
    for (const task of readdirSync(join(tmp.dir, 'b0'))) putModel(join(tmp.dir, 'b0', task));
    tessella('run');
  });
  after(() => tmp.cleanup());

  it('the B0 cohort: embedding_avg and embedding_max of 1280, no geometry warning', () => {
    const dir = dataset('b0-out');
    const info = readDatasetJson(dir);
    assert.equal(info.embedding_dim, 1280);
    assert.deepEqual(
      Object.keys(info.features).filter((k) => k.startsWith('embedding_') && k !== 'embedding_dim'),
      ['embedding_avg', 'embedding_max'],
    );
    assert.doesNotMatch(readFileSync(join(dir, 'report.md'), 'utf8'), /geometry/i);
  });

  it('committing the ViT re-embeds every slide, runs nothing upstream, and the records carry cls and avg', async () => {
    const seen = new Set(jobs().map((j) => j.job.id + j.job.pipeline));
    putModel(join(tmp.dir, 'vit', 'embed'));
    tessella('run');
    const per: Record<string, number> = Object.fromEntries(STAGES.map((s) => [s, 0]));
    for (const j of jobs()) {
      if (seen.has(j.job.id + j.job.pipeline)) continue;
      assert.equal(j.state, 'success', `job ${j.job.pipeline}: ${j.state} ${j.reason ?? ''}`);
      per[j.job.pipeline] += j.data_processed;
    }
    assert.deepEqual(
      [per['tile-detect'], per['tile-extract'], per.normalize, per.histogram],
      [0, 0, 0, 0],
      `nothing upstream of embed runs: ${JSON.stringify(per)}`,
    );
    assert.equal(per.embed, 2, 'every slide re-embedded');
    assert.ok(per.merge >= 1, 'merge re-ran');

    const dir = dataset('vit-out');
    const info = readDatasetJson(dir);
    assert.equal(info.embedding_dim, VIT_DIM);
    const vectorSpec = { kind: 'FixedLenSequenceFeature', dtype: 'float32', shape: [VIT_DIM], allow_missing: true };
    assert.deepEqual(info.features.embedding_cls, vectorSpec);
    assert.deepEqual(info.features.embedding_avg, vectorSpec);
    assert.equal(info.features.embedding_max, undefined, 'cls+mean writes no max');
    assert.equal(info.totals.patients, 2, 'both patients are in the records');
    let records = 0;
    for await (const r of readPatients(dir)) {
      records++;
      assert.equal(r.embeddingDim, VIT_DIM);
      assert.equal(r.embeddingCls?.length, r.numTiles * VIT_DIM);
      assert.equal(r.embeddingAvg.length, r.numTiles * VIT_DIM);
      assert.equal(r.embeddingMax.length, 0);
      assert.notDeepEqual(r.embeddingCls, r.embeddingAvg);
    }
    assert.equal(records, 2);
    // `tessella dataset --patient` shows the vectors the dataset has, and no empty max
    const lines: string[] = [];
    let someone = '';
    for await (const r of readPatients(dir)) someone ||= r.patientId;
    assert.equal(await datasetCli([dir, '--patient', someone], (l) => lines.push(l)), 0);
    const shown = lines.join('\n');
    assert.match(shown, new RegExp(`embedding_cls \\[\\d+ x ${VIT_DIM}\\]: mean`));
    assert.match(shown, /embedding_avg \[/);
    assert.doesNotMatch(shown, /embedding_max/);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(report, /embedding dimension 64, pooled vectors embedding_avg, embedding_cls/);
    assert.match(report, /## Tile geometry warnings/);
    assert.match(report, /trained at 0\.5 um\/px \(224 px\), but its tiles are/);
  });

  it("the documented Python reader parses the new features by dataset.json's spec", { skip: noNumpy }, () => {
    const dir = join(tmp.dir, 'vit-out');
    const md = readFileSync(join(projectRoot, 'docs/loading-the-dataset.md'), 'utf8');
    const reader = [...md.matchAll(/```python\n([\s\S]*?)```/g)]
      .map((m) => m[1])
      .find((b) => b.startsWith('# tessella_reader.py'));
    assert.ok(reader, 'the docs have tessella_reader.py');
    writeFileSync(join(tmp.dir, 'tessella_reader.py'), reader);
    const driver = [
      'import json, sys',
      'from tessella_reader import patients',
      'info = json.load(open(sys.argv[1] + "/dataset.json"))',
      'out = [{k: list(p[k].shape) for k in p if k.startswith("embedding_")}',
      '       for s in info["sets"] for p in patients(sys.argv[1], s)]',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', driver, dir], { cwd: tmp.dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const shapes = JSON.parse(r.stdout) as Record<string, number[]>[];
    assert.equal(shapes.length, 2);
    for (const s of shapes) {
      assert.deepEqual(Object.keys(s).sort(), ['embedding_avg', 'embedding_cls']);
      assert.equal(s.embedding_cls[1], VIT_DIM);
    }
  });
});
