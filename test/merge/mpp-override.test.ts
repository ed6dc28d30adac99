/**
 * The manifest's optional resolution column (MPP_COLUMN): parsed and checked per row (by merge-assign, as a mapped
 * column, and by manifest-mpp), and written by manifest-mpp as `/mpp/<slide>.json` for the rows that give one, which
 * tile-detect joins on. manifest-mpp reads only the image id and mpp columns: what merge-assign refuses for merge's
 * sake (labels, patients, duplicate rows) it lets through, so the per-slide stages never wait on it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mppOverrideFile, readMppOverride } from '../../shared/contract/index.js';
import { parseMppColumn } from '../../stages/manifest-mpp/mpp-column.js';
import { type ColumnMapping, ManifestError, parseManifest } from '../../stages/cohort/manifest.js';
import { tempDir } from '../helpers/dirs.js';
import { projectRoot } from './cohort-fixture.js';

const standard: ColumnMapping = {
  image_id: 'image_id',
  patient_id: 'patient_id',
  center_id: 'center_id',
  label: 'label',
  mpp: 'mpp',
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${err}`);
    return err.problems;
  }
  assert.fail('expected the manifest to be refused');
}

test("the mpp column: a number per row, or empty for the slide's own; optional, and mapped by name", () => {
  const m = parseManifest(
    'image_id,patient_id,center_id,mpp\ns1,p1,A,0.25\ns2,p1,A,\ns3,p2,B, 0.5 \ns4,p3,B,2.5e-1\n',
    {
      mapping: standard,
    },
  );
  assert.deepEqual(
    m.rows.map((r) => [r.imageId, r.mpp]),
    [
      ['s1', 0.25],
      ['s2', undefined],
      ['s3', 0.5],
      ['s4', 0.25],
    ],
  );
  assert.equal('mpp' in m.rows[1], false, 'no key for a row without a value');
  assert.deepEqual(m.extraColumns, [], 'a mapped column, not an extra one');
  // No column: every slide keeps its own resolution.
  const none = parseManifest('image_id,patient_id,center_id\ns1,p1,A\n', { mapping: standard });
  assert.equal(none.rows[0].mpp, undefined);
  // Another name (MPP_COLUMN=resolution); a column called mpp is then an ordinary extra column.
  const mapped = parseManifest('image_id,patient_id,center_id,resolution,mpp\ns1,p1,A,0.5,x\n', {
    mapping: { ...standard, mpp: 'resolution' },
  });
  assert.equal(mapped.rows[0].mpp, 0.5);
  assert.deepEqual(mapped.rows[0].extra, { mpp: 'x' });
});

test('a bad resolution names the file, the line, the column, the value and what is expected; all of them at once', () => {
  const csv = [
    'image_id,patient_id,center_id,res',
    's1,p1,A,0.25', // line 2: fine
    's2,p1,A,0.25um', // 3
    's3,p2,A,0', // 4
    's4,p3,A,-0.5', // 5
    's5,p4,A,0x10', // 6
    's6,p5,A,Infinity', // 7
    's7,p6,A,250', // 8: out of range
  ].join('\n');
  const expected =
    "expected micrometres per pixel, a number from 0.05 to 100 (about 0.25 at 40x, 0.5 at 20x), or empty for the slide's own";
  const problems = problemsOf(() => parseManifest(csv, { mapping: { ...standard, mpp: 'res' } }));
  assert.deepEqual(problems, [
    `line 3, column 'res' (mpp): '0.25um' is not a resolution; ${expected}`,
    `line 4, column 'res' (mpp): '0' is not a resolution; ${expected}`,
    `line 5, column 'res' (mpp): '-0.5' is not a resolution; ${expected}`,
    `line 6, column 'res' (mpp): '0x10' is not a resolution; ${expected}`,
    `line 7, column 'res' (mpp): 'Infinity' is not a resolution; ${expected}`,
    `line 8, column 'res' (mpp): '250' is not a resolution; ${expected}`,
  ]);
  assert.throws(
    () => parseManifest(csv, { mapping: { ...standard, mpp: 'res' }, file: 'cohort.csv' }),
    /^ManifestError: cohort\.csv: 6 problems:\n {2}line 3, column 'res' \(mpp\): '0\.25um'/,
  );
  // One slide, one row: a second row for a slide (whatever its mpp) is the duplicate error.
  assert.match(
    problemsOf(() =>
      parseManifest('image_id,patient_id,center_id,mpp\ns1,p1,A,0.25\ns1,p1,A,0.5\n', { mapping: standard }),
    )[0],
    /line 3, column 'image_id': duplicate image id 's1' \(first on line 2\)/,
  );
});

type Stage = 'manifest-mpp' | 'merge-assign';

/** A stage's main.ts as Pachyderm runs its datum: the manifest at /pfs/manifest, the /mpp files it wrote. */
function runStage(stage: Stage, manifest: string, env: Record<string, string> = {}) {
  const tmp = tempDir('mpp-stage');
  mkdirSync(join(tmp.dir, 'manifest'));
  mkdirSync(join(tmp.dir, 'out'));
  writeFileSync(join(tmp.dir, 'manifest', 'manifest.csv'), manifest);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', stage, 'main.ts')], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, PFS_ROOT: tmp.dir, TESSELLA_LOG_FORMAT: 'json', ...env },
  });
  const out = join(tmp.dir, 'out');
  const mppDir = join(out, 'mpp');
  const files: Record<string, string> = {};
  if (existsSync(mppDir)) for (const f of readdirSync(mppDir)) files[f] = readFileSync(join(mppDir, f), 'utf8');
  const written = readdirSync(out).sort();
  tmp.cleanup();
  return { code: r.status, stderr: r.stderr, files, written };
}
const runMpp = (manifest: string, env: Record<string, string> = {}) => runStage('manifest-mpp', manifest, env);

test('manifest-mpp writes /mpp/<slide>.json for the rows with a value only, the same bytes whatever the row order', () => {
  const head = 'image_id,patient_id,center_id,label,mpp\n';
  const a = runMpp(`${head}s1,p1,A,CE,0.250\ns2,p2,B,LAA,\ns3,p3,A,CE,0.5\n`);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(a.files, {
    's1.json': `{"mpp":0.25,"source":"manifest.csv, column 'mpp'"}\n`,
    's3.json': `{"mpp":0.5,"source":"manifest.csv, column 'mpp'"}\n`,
  });
  assert.deepEqual(a.written, ['mpp'], 'nothing but the /mpp files');
  // A row inserted above, others relabelled and reordered: s1's and s3's files do not change (no row number in them).
  const b = runMpp(`${head}s0,p0,B,LAA,\ns3,p3,A,LAA,0.5\ns2,p2,B,LAA,\ns1,p1,A,CE,0.25\n`);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(b.files, a.files);
  // The files read back through the contract's schema.
  const tmp = tempDir('mpp-read');
  writeFileSync(join(tmp.dir, 's1.json'), a.files['s1.json']);
  assert.deepEqual(readMppOverride(join(tmp.dir, 's1.json')), { mpp: 0.25, source: "manifest.csv, column 'mpp'" });
  tmp.cleanup();
  assert.equal(mppOverrideFile('s1'), 'mpp/s1.json');
  // No column, or a column with no values, or no rows: no file, and no error.
  for (const csv of ['image_id,patient_id,center_id\ns1,p1,A\n', `${head}s1,p1,A,CE,\n`, head]) {
    const r = runMpp(csv);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([r.files, r.written], [{}, []], csv);
  }
  // MPP_COLUMN and IMAGE_COLUMN name other columns, MANIFEST_FILE another file name; the source says which.
  const c = runMpp('slide,patient_id,center_id,scan_mpp\ns1,p1,A,0.26\n', {
    MPP_COLUMN: 'scan_mpp',
    IMAGE_COLUMN: 'slide',
  });
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(c.files, { 's1.json': `{"mpp":0.26,"source":"manifest.csv, column 'scan_mpp'"}\n` });
});

test('merge-assign writes no /mpp files: manifest-mpp does, so a manifest merge-assign refuses holds back merge only', () => {
  const r = runStage('merge-assign', 'image_id,patient_id,center_id,label,mpp\ns1,p1,A,CE,0.25\n');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.files, {});
  assert.deepEqual(r.written, ['cohort.json', 'slides']);
});

test('manifest-mpp is lenient about what only merge needs: patients, centers, labels, duplicate rows and headers, empty ids', () => {
  const csv = [
    'image_id,patient_id,center_id,label,mpp,notes,notes',
    's1,,A,CE,0.25,x,y', // 2: no patient (merge-assign: empty patient id)
    's2,p2,,LAA,0.5,,', // 3: no center
    's3,p1,B,,0.5,,', // 4: no label in a labelled set; p1 in two centers
    ',p4,A,CE,,,', // 5: no image id (and no resolution)
    's2,p2,A,LAA,0.50,,', // 6: a second row for s2, the same resolution
    's4,p5,A,CE,,,', // 7
    's4,p5,A,LAA,,,', // 8: a second row for s4, both without one
  ].join('\n');
  assert.throws(() => parseManifest(csv, { mapping: standard }), ManifestError, 'merge-assign refuses it');
  const m = parseMppColumn(csv, { file: 'manifest.csv', mapping: { image_id: 'image_id', mpp: 'mpp' } });
  assert.equal(m.column, true);
  assert.deepEqual(
    m.overrides.map((o) => [o.slide, o.override.mpp]),
    [
      ['s1', 0.25],
      ['s2', 0.5],
      ['s3', 0.5],
    ],
  );
  const none = parseMppColumn('image_id\ns1\n', {
    file: 'manifest.csv',
    mapping: { image_id: 'image_id', mpp: 'mpp' },
  });
  assert.deepEqual(none, { column: false, overrides: [] });
});

test('manifest-mpp refuses only what decides a resolution, all at once, worded as merge-assign words it', () => {
  const mpp = (csv: string, mapping = { image_id: 'image_id', mpp: 'mpp' }) =>
    problemsOf(() => parseMppColumn(csv, { file: 'manifest.csv', mapping }));
  // No image id column: as merge-assign says it.
  const noImage = 'slide,patient_id,center_id,mpp\ns1,p1,A,0.25\n';
  assert.deepEqual(mpp(noImage), [
    "missing column 'image_id' (image_id); the header has: slide, patient_id, center_id, mpp. Name the column that holds it with IMAGE_COLUMN.",
  ]);
  assert.equal(problemsOf(() => parseManifest(noImage, { mapping: standard }))[0], mpp(noImage)[0]);
  // Bad values and a slide given two resolutions (empty is one: the slide's own), every problem in one message.
  const csv = [
    'image_id,patient_id,center_id,mpp',
    's1,p1,A,0.25', // 2
    's2,p2,A,fast', // 3
    's1,p1,A,0.5', // 4: s1 again, another value
    's3,p3,A,', // 5
    's3,p3,A,1', // 6: s3 again: own, then 1
    's4,p4,A,250', // 7
  ].join('\n');
  const expected =
    "expected micrometres per pixel, a number from 0.05 to 100 (about 0.25 at 40x, 0.5 at 20x), or empty for the slide's own";
  assert.deepEqual(mpp(csv), [
    `line 3, column 'mpp': 'fast' is not a resolution; ${expected}`,
    "line 4, column 'image_id': image id 's1' has resolution 0.5 here but 0.25 on line 2; a slide has one resolution",
    "line 6, column 'image_id': image id 's3' has resolution 1 here but none (the slide's own) on line 5; a slide has one resolution",
    `line 7, column 'mpp': '250' is not a resolution; ${expected}`,
  ]);
  // The bad values in merge-assign's words exactly (its problems also hold the duplicate rows).
  const assign = problemsOf(() => parseManifest(csv, { mapping: standard }));
  for (const p of mpp(csv).filter((p) => p.includes('not a resolution'))) assert.ok(assign.includes(p), p);
  // A renamed column is named with its field, as merge-assign names it.
  assert.deepEqual(mpp('slide,res\ns1,x\n', { image_id: 'slide', mpp: 'res' }), [
    `line 2, column 'res' (mpp): 'x' is not a resolution; ${expected}`,
  ]);
  // A duplicate header name matters only for the two columns it reads.
  assert.deepEqual(mpp('image_id,mpp,mpp\ns1,0.25,0.5\n'), ['line 1: duplicate column names: mpp']);
  assert.equal(
    parseMppColumn('image_id,mpp,x,x\ns1,0.25,1,2\n', { file: 'm.csv', mapping: { image_id: 'image_id', mpp: 'mpp' } })
      .overrides.length,
    1,
  );
});

test('manifest-mpp: a bad resolution fails the datum naming the file, line, column and value, and writes nothing', () => {
  const csv = 'image_id,patient_id,center_id,mpp\ns1,p1,A,0.25\ns2,p2,A,fast\n';
  for (const stage of ['manifest-mpp', 'merge-assign'] as const) {
    const r = runStage(stage, csv);
    assert.equal(r.code, 1, stage);
    assert.match(
      r.stderr,
      /"event":"failed".*manifest\.csv: line 3, column 'mpp': 'fast' is not a resolution; expected micrometres per pixel/,
      stage,
    );
    assert.deepEqual(r.written, [], `${stage} writes nothing`);
  }
  // No manifest file in the repo: both say how to commit it.
  const tmp = tempDir('mpp-nofile');
  mkdirSync(join(tmp.dir, 'manifest'));
  mkdirSync(join(tmp.dir, 'out'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', 'manifest-mpp', 'main.ts')], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, PFS_ROOT: tmp.dir, TESSELLA_LOG_FORMAT: 'json' },
  });
  tmp.cleanup();
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /manifest\.csv: not found in the manifest repo; commit it with: tessella put file manifest@master:\/manifest\.csv/,
  );
});
