/**
 * Outputs are a pure function of inputs: the same cohort (two real slides, one corrupt one, test models) run in
 * two clean stores, at different paths and at different times, gives byte-identical output repos in every
 * pipeline (same paths, same content hashes), so an unchanged datum downstream is skipped.
 * The cohort and the heads are scripts/dump-heads.ts's, which also compares a change's outputs with main's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compareHeads, headsOf, missingSlide, PIPELINES, runCohort, type Heads } from '../../scripts/dump-heads.js';
import { sharedDir, tempDir } from '../helpers/dirs.js';

const missing = missingSlide(sharedDir);

describe('two clean runs of one cohort give byte-identical repos, every pipeline', {
  skip: missing ? `needs ../shared/fixtures/slides/${missing}` : false,
}, () => {
  const tmp = tempDir('reproducible');
  let first: Heads;
  let second: Heads;

  before(() => {
    first = headsOf(runCohort(tmp.dir, sharedDir, 'first-store'));
    second = headsOf(runCohort(tmp.dir, sharedDir, 'second-store'));
  });
  after(() => tmp.cleanup());

  it('every pipeline holds the same paths with the same content hashes', () => {
    for (const p of PIPELINES) assert.ok(Object.keys(first[p] ?? {}).length > 0, `${p} has outputs`);
    assert.deepEqual(compareHeads(first, second), [], 'the two clean runs differ');
    assert.ok(
      Object.keys(first['tile-detect']).some((f) => f.startsWith('/unreadable/')),
      'the corrupt slide is in the outputs (as an error)',
    );
  });
});
