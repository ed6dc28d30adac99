/**
 * A stage refuses, at start, a transform.env name that is a near miss of a tessella parameter (a typo, another case,
 * another stage's parameter) and names every other unknown variable once without refusing it. Real stage processes
 * (tile-detect, merge-assign) started as the engine starts them; the check runs before any input is read.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { editDistance, nearestName } from '../../shared/nearest-name.js';
import { checkParameterNames } from '../../shared/stage-parameters.js';
import { tempDir } from '../helpers/dirs.js';
import { runStage } from '../slide/helpers.js';

describe('near misses of a name', () => {
  test('edits: a letter left out, added, changed, two swapped', () => {
    assert.equal(editDistance('TILE_SIZ', 'TILE_SIZE'), 1);
    assert.equal(editDistance('TILE_SIZEE', 'TILE_SIZE'), 1);
    assert.equal(editDistance('TILE_SIXE', 'TILE_SIZE'), 1);
    assert.equal(editDistance('TILE_SZIE', 'TILE_SIZE'), 1);
    assert.equal(editDistance('OMP_NUM_THREADS', 'INTRA_OP_THREADS'), 8);
  });

  test('nearest: case aside, or a few edits; short names only when equal ignoring case', () => {
    const known = ['TILE_SIZE', 'TILE_UM', 'MAX_TILES'];
    assert.equal(nearestName('tile_size', known), 'TILE_SIZE');
    assert.equal(nearestName('TILE_SIZ', known), 'TILE_SIZE');
    assert.equal(nearestName('TILE_U', known), 'TILE_UM');
    assert.equal(nearestName('TILE_MM', known), 'TILE_UM');
    assert.equal(nearestName('TILE_XYZ', known), undefined);
    assert.equal(nearestName('PATH', ['PATHS']), undefined);
    assert.equal(nearestName('path', ['PATH']), 'PATH');
  });

  test('the environment a stage really gets is sorted into refused and ignored', () => {
    const env = {
      TILE_SIZE: '448',
      TILE_SIZ: '224',
      tile_um: '100',
      BATCH_SIZE: '4',
      READS_IN_FLIGT: '2',
      OMP_NUM_THREADS: '2',
      PATH: '/usr/bin',
      PACH_JOB_ID: 'j',
      slides: '/pfs/slides/s1',
      slides_COMMIT: 'c',
      TESSELLA_HOME: '/x',
      GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', // the spec's, for the C library: neither refused nor named
    };
    assert.deepEqual(checkParameterNames('tile-detect', env), {
      refused: [
        'BATCH_SIZE: unknown parameter of tile-detect; it is a parameter of normalize, embed',
        'READS_IN_FLIGT: unknown parameter of tile-detect; did you mean READS_IN_FLIGHT (a parameter of tile-extract)?',
        'TILE_SIZ: unknown parameter of tile-detect; did you mean TILE_SIZE?',
        'tile_um: unknown parameter of tile-detect; did you mean TILE_UM?',
      ],
      ignored: ['OMP_NUM_THREADS', 'PATH', 'slides'],
    });
  });
});

describe('a stage started with a near miss in its transform.env', () => {
  const tmp = tempDir('stage-parameters');
  after(() => tmp.cleanup());
  let n = 0;
  /** A fresh /pfs with an empty out/ and a manifest repo of one row. */
  function pfs(): string {
    const root = join(tmp.dir, `pfs-${n++}`);
    mkdirSync(join(root, 'out'), { recursive: true });
    mkdirSync(join(root, 'manifest'));
    writeFileSync(join(root, 'manifest', 'manifest.csv'), 'image_id,patient_id,center_id,label\ns1,p1,A,CE\n');
    return root;
  }

  for (const [name, value, says] of [
    ['TILE_SIZ', '224', 'TILE_SIZ: unknown parameter of tile-detect; did you mean TILE_SIZE?'],
    ['tile_size', '224', 'tile_size: unknown parameter of tile-detect; did you mean TILE_SIZE?'],
    ['BATCH_SIZE', '4', 'BATCH_SIZE: unknown parameter of tile-detect; it is a parameter of normalize, embed'],
  ]) {
    test(`tile-detect with ${name}: exit 1 at start, naming it, writing nothing`, async () => {
      const root = pfs();
      const r = await runStage('tile-detect', { PFS_ROOT: root, slides: join(root, 'slides', 's1'), [name]: value });
      assert.equal(r.status, 1, r.stderr);
      const failed = r.stderr
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((e) => e.event === 'failed');
      assert.equal(failed?.error, 'ConfigError', r.stderr);
      assert.ok(failed.message.startsWith(`${says}\n`), failed.message);
      assert.match(
        failed.message,
        /fix the name in the tile-detect pipeline's transform\.env \(its parameters: TILE_SIZE,/,
      );
      assert.deepEqual(readdirSync(join(root, 'out')), []);
    });
  }

  test('merge-assign with OMP_NUM_THREADS and its own parameters runs, naming the unknown variable once', async () => {
    const root = pfs();
    const r = await runStage('merge-assign', {
      PFS_ROOT: root,
      manifest: join(root, 'manifest'),
      IMAGE_COLUMN: 'image_id',
      OMP_NUM_THREADS: '2',
    });
    assert.equal(r.status, 0, r.stderr);
    const ignored = r.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'variables ignored');
    assert.equal(ignored.length, 1, r.stderr);
    assert.ok(ignored[0].names.includes('OMP_NUM_THREADS'), r.stderr);
    assert.ok(!ignored[0].names.includes('IMAGE_COLUMN'), r.stderr);
    assert.ok(readdirSync(join(root, 'out')).includes('cohort.json'));
  });

  test('merge-assign with IMAGE_COLUMNS: refused, did you mean IMAGE_COLUMN', async () => {
    const root = pfs();
    const r = await runStage('merge-assign', { PFS_ROOT: root, manifest: join(root, 'manifest'), IMAGE_COLUMNS: 'x' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /IMAGE_COLUMNS: unknown parameter of merge-assign; did you mean IMAGE_COLUMN\?/);
  });

  test("a user's own export of another stage's parameter is not the spec's: with TESSELLA_SPEC_ENV it runs", async () => {
    // the engine names the spec's transform.env in TESSELLA_SPEC_ENV; the shell's BATCH_SIZE is not among them
    const root = pfs();
    const env = { PFS_ROOT: root, manifest: join(root, 'manifest'), IMAGE_COLUMN: 'image_id', BATCH_SIZE: '8' };
    const r = await runStage('merge-assign', { ...env, TESSELLA_SPEC_ENV: 'IMAGE_COLUMN' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readdirSync(join(root, 'out')).includes('cohort.json'));
    // the same name in the spec is refused, and so it is without the list (a Pachyderm container)
    for (const listed of ['IMAGE_COLUMN,BATCH_SIZE', undefined]) {
      const again = pfs();
      const named = listed === undefined ? {} : { TESSELLA_SPEC_ENV: listed };
      const refused = await runStage('merge-assign', {
        ...env,
        PFS_ROOT: again,
        manifest: join(again, 'manifest'),
        ...named,
      });
      assert.equal(refused.status, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /BATCH_SIZE: unknown parameter of merge-assign; it is a parameter of normalize, embed/,
      );
    }
  });
});
