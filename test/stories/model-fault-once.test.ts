/**
 * A corrupt model.onnx is the cohort's fault, not each slide's: over a cohort of 4 slides, embed's job fails after
 * its first datum's first try (one model open, not datumTries x every slide), naming the model file as the models
 * repo has it; `run` exits non-zero and says why. Through the CLI with the project's specs (datumTries 3 as
 * shipped), run from the sources, on copies of a real fixture slide.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildModels } from '../../scripts/models/build.js';
import { sharedDir, tempDir } from '../helpers/dirs.js';
import { writeSourceSpecs } from '../helpers/source-specs.js';
import { sourceCli } from '../helpers/source-cli.js';

const SLIDE = 'cmu-1-small-region.pyramid.tiff';
const SLIDE_IDS = ['s1', 's2', 's3', 's4'];
const skip = existsSync(join(sharedDir, 'fixtures/slides', SLIDE)) ? false : `needs ../shared/fixtures/slides/${SLIDE}`;

/** The attempt lines of every datum log of a pipeline: how many times one of its datums was started. */
function attempts(home: string, pipeline: string): number {
  const dir = join(home, 'logs', pipeline);
  if (!existsSync(dir)) return 0;
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
  return walk(dir)
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + (readFileSync(f, 'utf8').match(/^--- datum \w+ attempt/gm) ?? []).length, 0);
}

describe('story: a corrupt model fails the job once', { skip }, () => {
  const tmp = tempDir('model-fault-once');
  after(() => tmp.cleanup());
  const home = join(tmp.dir, 'home');
  const { run: tessella, ok } = sourceCli(home, 600_000);

  it('embed stops at its first datum, naming /embed/model.onnx of the models repo', () => {
    const specs = writeSourceSpecs(join(tmp.dir, 'pipelines'));
    const slides = join(tmp.dir, 'slides');
    for (const id of SLIDE_IDS) {
      mkdirSync(join(slides, id), { recursive: true });
      writeFileSync(join(slides, id, SLIDE), readFileSync(join(sharedDir, 'fixtures/slides', SLIDE)));
    }
    const rows = SLIDE_IDS.map((id, i) => `${id},p${i},1,${i % 2 ? 'CE' : 'LAA'}`).join('\n');
    writeFileSync(join(tmp.dir, 'manifest.csv'), `image_id,patient_id,center_id,label\n${rows}\n`);
    buildModels({ out: join(tmp.dir, 'models'), normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 1 });
    // the model cut short, as an interrupted copy leaves it
    const model = join(tmp.dir, 'models', 'embed', 'model.onnx');
    const bytes = readFileSync(model);
    writeFileSync(model, bytes.subarray(0, Math.floor(bytes.length / 2)));
    ok('init', '--pipelines', specs);
    ok('put', 'file', 'slides@master:/', '-r', '-f', slides);
    ok('put', 'file', 'manifest@master:/manifest.csv', '-f', join(tmp.dir, 'manifest.csv'));
    for (const task of ['normalize', 'embed'])
      ok('put', 'file', `models@master:/${task}`, '-r', '-f', join(tmp.dir, 'models', task));
    const r = tessella('run');
    assert.notEqual(r.status, 0, 'run exits non-zero');
    assert.equal(attempts(home, 'normalize'), SLIDE_IDS.length, 'normalize ran every slide once');
    assert.equal(attempts(home, 'embed'), 1, 'one try of one datum: one model open');
    const terminal = r.stdout + r.stderr;
    assert.match(terminal, /models@\w+:\/embed\/model\.onnx \(\d+ bytes\) is not a complete ONNX model/);
    assert.match(terminal, /not retried: a model fault/);
    assert.match(terminal, /3 datum\(s\) not tried: a model fault fails every datum alike/);
    assert.doesNotMatch(terminal, /scratch\//, "no datum's scratch folder");
  });
});
