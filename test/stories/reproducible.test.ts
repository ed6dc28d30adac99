/**
 * Outputs are a pure function of inputs: the same cohort (two real slides, one corrupt one, test models) run in
 * two clean stores, at different paths and at different times, gives byte-identical output repos in every
 * pipeline (same paths, same content hashes), so an unchanged datum downstream is skipped. The first run serves
 * the datums of the per-slide pipelines from one process per slot (datum batching, as the specs ask), the second
 * starts a process per datum (TESSELLA_DATUM_BATCHING=off): the outputs do not depend on it.
 * The cohort and the heads are scripts/dump-heads.ts's, which also compares a change's outputs with main's.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  let firstHome: string;

  before(() => {
    firstHome = runCohort(tmp.dir, sharedDir, 'first-store');
    first = headsOf(firstHome);
    second = headsOf(runCohort(tmp.dir, sharedDir, 'second-store', { TESSELLA_DATUM_BATCHING: 'off' }));
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

  it('with datum batching, a model stage opens its model once, ahead of its first datum, for the slides one process serves', () => {
    for (const stage of ['normalize', 'embed']) {
      const logs = join(firstHome, 'logs', stage);
      const events = readdirSync(logs).flatMap((job) =>
        readdirSync(join(logs, job)).flatMap((f) =>
          readFileSync(join(logs, job, f), 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => (JSON.parse(l) as { event: string }).event),
        ),
      );
      // two slides with tiles, one slot (GPU pipelines run one datum at a time without a GPU)
      assert.equal(events.filter((e) => e === 'model loaded').length, 1, `${stage}: ${events.join(', ')}`);
      // its process started ahead was shown the models repo's /<stage> (engine/worker/ahead-inputs.ts)
      assert.equal(events.filter((e) => e === 'model opened ahead of the datum').length, 1, stage);
      assert.equal(events.filter((e) => e === 'model kept open from the last datum').length, 1, stage);
    }
  });
});
