/**
 * A manifest mistake holds back merge only, through the engine's CLI with every project spec (run from the sources):
 * a cohort is processed; then a new slide is committed with a manifest that merge-assign refuses (the new row has no
 * patient id). The new slide still goes through tile-detect, tile-extract, normalize, embed and histogram (its
 * resolution from the mpp column reaches tile-detect through manifest-mpp, which reads only the image id and mpp
 * columns); merge-assign fails naming the row, and merge-slide, merge-shard and merge are held back. Fixing the
 * manifest runs the merge pipelines and nothing per slide. Synthetic slides and test models: no ../shared needed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildModels } from '../../scripts/models/build.js';
import { makeSyntheticSlide } from '../../scripts/synthetic-slide.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';
import { sourceCli } from '../helpers/source-cli.js';

const PER_SLIDE = ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram'];
const MERGE = ['merge-slide', 'merge-shard', 'merge'];
const HEADER = 'image_id,patient_id,center_id,label,mpp\n';
const GOOD = `${HEADER}a,p1,A,CE,\nb,p2,B,LAA,\n`;

interface JobJson {
  job: { pipeline: string; id: string };
  state: string;
  reason?: string;
  data_processed: number;
  data_skipped: number;
}

describe('story: a manifest that merge refuses holds back merge only, never a new slide', () => {
  const tmp = tempDir('manifest-refused');
  const home = join(tmp.dir, 'home');
  const { run: cli, ok: tessella } = sourceCli(home);
  const seen = new Set<string>();
  /** The jobs since the last call, by pipeline. */
  const jobsSince = (): Record<string, JobJson> => {
    const jobs: Record<string, JobJson> = {};
    for (const line of tessella('list', 'job', '-o', 'json').trim().split('\n').filter(Boolean)) {
      const j = JSON.parse(line) as JobJson;
      const key = `${j.job.pipeline}@${j.job.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      assert.equal(jobs[j.job.pipeline], undefined, `one job of ${j.job.pipeline} per run`);
      jobs[j.job.pipeline] = j;
    }
    return jobs;
  };
  const commitManifest = (text: string) => {
    const file = join(tmp.dir, 'manifest.csv');
    writeFileSync(file, text);
    tessella('put', 'file', 'manifest@master:/manifest.csv', '-f', file);
  };
  const slides = join(tmp.dir, 'slides');
  const makeSlide = (id: string, seed: number) =>
    makeSyntheticSlide({
      width: 1344,
      height: 1344,
      tissueFraction: 0.6,
      seed,
      path: join(slides, id, `${id}.tiff`),
    });

  before(async () => {
    const specs = join(tmp.dir, 'pipelines');
    mkdirSync(specs);
    const names = readdirSync(join(projectRoot, 'pipelines')).filter((f) => f.endsWith('.yaml'));
    for (const f of names) {
      const text = readFileSync(join(projectRoot, 'pipelines', f), 'utf8').replace(
        /\[\s*"?node"?\s*,\s*"?dist\/stages\/([\w-]+)\/main\.js"?\s*\]/,
        (_m, stage: string) => `["node", "--import", "tsx", "stages/${stage}/main.ts"]`,
      );
      assert.match(text, /--import", "tsx"/, `pipelines/${f}: cmd not recognised`);
      writeFileSync(join(specs, f), text);
    }
    for (const [id, seed] of [
      ['a', 1],
      ['b', 2],
    ] as const) {
      mkdirSync(join(slides, id), { recursive: true });
      await makeSlide(id, seed);
    }
    const models = join(tmp.dir, 'models');
    buildModels({ out: models, normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
    tessella('init', '--pipelines', specs);
    tessella('put', 'file', 'slides@master:/', '-r', '-f', slides);
    commitManifest(GOOD);
    for (const task of readdirSync(models))
      tessella('put', 'file', `models@master:/${task}`, '-r', '-f', join(models, task));
    tessella('run');
  });
  after(() => tmp.cleanup());

  test('a first run processes the cohort through every pipeline', () => {
    const jobs = jobsSince();
    for (const p of [...PER_SLIDE, 'manifest-mpp', 'merge-assign', ...MERGE])
      assert.equal(jobs[p]?.state, 'success', `${p}: ${jobs[p]?.state} ${jobs[p]?.reason ?? ''}`);
    for (const p of PER_SLIDE) assert.equal(jobs[p].data_processed, 2, p);
  });

  test('a new slide with a manifest row merge-assign refuses: every per-slide stage runs it, only merge waits', async () => {
    // c's row has no patient id (merge-assign: "empty patient id") but gives c's resolution.
    commitManifest(`${HEADER}a,p1,A,CE,\nb,p2,B,LAA,\nc,,A,CE,0.5\n`);
    mkdirSync(join(slides, 'c'), { recursive: true });
    await makeSlide('c', 4);
    tessella('put', 'file', 'slides@master:/c/c.tiff', '-f', join(slides, 'c', 'c.tiff'));
    const r = cli('run');
    assert.equal(r.status, 1, 'tessella run says a job failed');
    assert.match(
      r.stderr,
      /pipeline merge-assign job \S+ failed: .*manifest\.csv: line 4, column 'patient_id': empty patient id; every row needs one/,
    );
    assert.doesNotMatch(r.stderr, /pipeline (manifest-mpp|tile-detect|tile-extract|normalize|embed|histogram) job/);

    const jobs = jobsSince();
    assert.equal(jobs['merge-assign']?.state, 'failure');
    assert.equal(jobs['manifest-mpp']?.state, 'success', jobs['manifest-mpp']?.reason);
    assert.equal(
      tessella('get', 'file', 'manifest-mpp@master:/mpp/c.json'),
      `{"mpp":0.5,"source":"manifest.csv, column 'mpp'"}\n`,
    );
    for (const p of PER_SLIDE) {
      assert.equal(jobs[p]?.state, 'success', `${p}: ${jobs[p]?.state} ${jobs[p]?.reason ?? ''}`);
      assert.deepEqual([jobs[p].data_processed, jobs[p].data_skipped], [1, 2], `${p}: the new slide only`);
    }
    for (const p of MERGE) assert.equal(jobs[p], undefined, `${p} runs no job while merge-assign has failed`);
    assert.match(tessella('list', 'file', 'histogram@master:/c/'), /histogram\.safetensors/);
    assert.doesNotMatch(tessella('list', 'file', 'tile-detect@master:/c/'), /error\.json/);
  });

  test('fixing the manifest runs the merge pipelines, and nothing per slide', () => {
    commitManifest(`${HEADER}a,p1,A,CE,\nb,p2,B,LAA,\nc,p3,A,CE,0.5\n`);
    tessella('run');
    const jobs = jobsSince();
    for (const p of ['merge-assign', ...MERGE])
      assert.equal(jobs[p]?.state, 'success', `${p}: ${jobs[p]?.state} ${jobs[p]?.reason ?? ''}`);
    // manifest-mpp's files are unchanged (c's resolution is the same), so tile-detect has nothing to do.
    for (const p of PER_SLIDE) assert.equal(jobs[p]?.data_processed ?? 0, 0, `${p} processed`);
    const dataset = JSON.parse(tessella('get', 'file', 'merge@master:/dataset.json'));
    assert.equal(dataset.totals.slides, 3);
  });
});
