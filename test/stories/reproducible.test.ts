/**
 * Outputs are a pure function of inputs: the same cohort (two real slides, one corrupt one, test models) run in
 * two clean stores, at different paths and at different times, gives byte-identical output repos in every
 * pipeline (same paths, same content hashes), so an unchanged datum downstream is skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { filesOf, resolveCommit } from '../../engine/pfs.js';
import { Store } from '../../engine/store/store.js';
import { buildModels } from '../../scripts/models/build.js';
import { projectRoot, sharedDir, tempDir } from '../onnx/helpers.js';

const SLIDES = ['cmu-1-small-region.pyramid.tiff', 'os-1-detail.pyramid.tiff', 'unreadable.svs'];
const PIPELINES = readdirSync(join(projectRoot, 'pipelines'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -5))
  .sort();

function skipReason(): string | false {
  for (const s of SLIDES) if (!existsSync(join(sharedDir, 'fixtures/slides', s))) return `needs ../shared/fixtures/slides/${s}`;
  return false;
}

describe('two clean runs of one cohort give byte-identical repos, every pipeline', { skip: skipReason() }, () => {
  const tmp = tempDir('reproducible');
  const run = (home: string, ...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'engine', 'cli.ts'), ...args], {
      cwd: projectRoot,
      env: { ...process.env, TESSELLA_HOME: home, TESSELLA_LOG_FORMAT: 'json', TESSELLA_GPUS: '' },
      encoding: 'utf8',
      timeout: 600_000,
    });
    assert.equal(r.status, 0, `tessella ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-4000)}`);
  };
  /** repo -> path -> content hash of its head */
  const heads = (home: string) => {
    const s = Store.open(home);
    try {
      return Object.fromEntries(PIPELINES.map((p) => [p, Object.fromEntries(filesOf(s, resolveCommit(s, p, 'master').seq).map((f) => [f.path, f.hash]))]));
    } finally {
      s.close();
    }
  };

  before(() => {
    const specs = join(tmp.dir, 'pipelines');
    mkdirSync(specs);
    for (const p of PIPELINES) {
      // run the stages from the sources, so the test needs no build
      const text = readFileSync(join(projectRoot, 'pipelines', `${p}.yaml`), 'utf8').replace(
        /\[\s*"?node"?\s*,\s*"?dist\/stages\/([\w-]+)\/main\.js"?\s*\]/,
        (_m, stage: string) => `["node", "--import", "tsx", "stages/${stage}/main.ts"]`,
      );
      writeFileSync(join(specs, `${p}.yaml`), text);
    }
    const slides = join(tmp.dir, 'slides');
    for (const s of SLIDES) {
      const id = s.split('.')[0];
      mkdirSync(join(slides, id), { recursive: true });
      writeFileSync(join(slides, id, s), readFileSync(join(sharedDir, 'fixtures/slides', s)));
    }
    writeFileSync(join(tmp.dir, 'manifest.csv'), 'image_id,patient_id,center_id,label\ncmu-1-small-region,p1,1,CE\nos-1-detail,p2,2,LAA\nunreadable,p3,1,CE\n');
    buildModels({ out: join(tmp.dir, 'models'), normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
    for (const name of ['first', 'second']) {
      const home = join(tmp.dir, `${name}-store`, 'home');
      run(home, 'init', '--pipelines', specs);
      run(home, 'put', 'file', 'slides@master:/', '-r', '-f', slides);
      run(home, 'put', 'file', 'manifest@master:/manifest.csv', '-f', join(tmp.dir, 'manifest.csv'));
      for (const task of readdirSync(join(tmp.dir, 'models'))) run(home, 'put', 'file', `models@master:/${task}`, '-r', '-f', join(tmp.dir, 'models', task));
      run(home, 'run');
    }
  });
  after(() => tmp.cleanup());

  it('every pipeline holds the same paths with the same content hashes', () => {
    const a = heads(join(tmp.dir, 'first-store', 'home'));
    const b = heads(join(tmp.dir, 'second-store', 'home'));
    for (const p of PIPELINES) {
      assert.ok(Object.keys(a[p]).length > 0, `${p} has outputs`);
      assert.deepEqual(b[p], a[p], `${p}: the two clean runs differ`);
    }
    assert.ok(Object.keys(a['tile-detect']).some((f) => f.startsWith('/unreadable/')), 'the corrupt slide is in the outputs (as an error)');
  });
});
