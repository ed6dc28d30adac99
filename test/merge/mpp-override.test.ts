/**
 * The manifest's optional resolution column (MPP_COLUMN): parsed and checked per row, and written by merge-assign as
 * `/mpp/<slide>.json` for the rows that give one, which tile-detect joins on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mppOverrideFile, readMppOverride } from '../../shared/contract/index.js';
import { type ColumnMapping, ManifestError, parseManifest } from '../../stages/merge/manifest.js';
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

function runAssign(manifest: string, env: Record<string, string> = {}) {
  const tmp = tempDir('mpp-assign');
  mkdirSync(join(tmp.dir, 'manifest'));
  mkdirSync(join(tmp.dir, 'out'));
  writeFileSync(join(tmp.dir, 'manifest', 'manifest.csv'), manifest);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(projectRoot, 'stages', 'merge-assign', 'main.ts')], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, PFS_ROOT: tmp.dir, TESSELLA_LOG_FORMAT: 'json', ...env },
  });
  const out = join(tmp.dir, 'out');
  const mppDir = join(out, 'mpp');
  const files: Record<string, string> = {};
  if (existsSync(mppDir)) for (const f of readdirSync(mppDir)) files[f] = readFileSync(join(mppDir, f), 'utf8');
  tmp.cleanup();
  return { code: r.status, stderr: r.stderr, files };
}

test('merge-assign writes /mpp/<slide>.json for the rows with a value only, the same bytes whatever the row order', () => {
  const head = 'image_id,patient_id,center_id,label,mpp\n';
  const a = runAssign(`${head}s1,p1,A,CE,0.250\ns2,p2,B,LAA,\ns3,p3,A,CE,0.5\n`);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(a.files, {
    's1.json': `{"mpp":0.25,"source":"manifest.csv, column 'mpp'"}\n`,
    's3.json': `{"mpp":0.5,"source":"manifest.csv, column 'mpp'"}\n`,
  });
  // A row inserted above, others relabelled and reordered: s1's and s3's files do not change (no row number in them).
  const b = runAssign(`${head}s0,p0,B,LAA,\ns3,p3,A,LAA,0.5\ns2,p2,B,LAA,\ns1,p1,A,CE,0.25\n`);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(b.files, a.files);
  // The files read back through the contract's schema.
  const tmp = tempDir('mpp-read');
  writeFileSync(join(tmp.dir, 's1.json'), a.files['s1.json']);
  assert.deepEqual(readMppOverride(join(tmp.dir, 's1.json')), { mpp: 0.25, source: "manifest.csv, column 'mpp'" });
  tmp.cleanup();
  assert.equal(mppOverrideFile('s1'), 'mpp/s1.json');
  // No column, or a column with no values: no file.
  assert.deepEqual(runAssign('image_id,patient_id,center_id\ns1,p1,A\n').files, {});
  assert.deepEqual(runAssign(`${head}s1,p1,A,CE,\n`).files, {});
  // MPP_COLUMN names another column, and the source says which.
  const c = runAssign('image_id,patient_id,center_id,scan_mpp\ns1,p1,A,0.26\n', { MPP_COLUMN: 'scan_mpp' });
  assert.deepEqual(c.files, { 's1.json': `{"mpp":0.26,"source":"manifest.csv, column 'scan_mpp'"}\n` });
});

test('merge-assign: a bad resolution fails the datum naming the file, line, column and value, and writes nothing', () => {
  const r = runAssign('image_id,patient_id,center_id,mpp\ns1,p1,A,0.25\ns2,p2,A,fast\n');
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /"event":"failed".*manifest\.csv: line 3, column 'mpp': 'fast' is not a resolution; expected micrometres per pixel/,
  );
  assert.deepEqual(r.files, {});
});
