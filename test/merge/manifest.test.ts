import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseManifest, ManifestError, type ColumnMapping } from '../../stages/cohort/manifest.js';
import { projectRoot } from './cohort-fixture.js';

const standard: ColumnMapping = {
  image_id: 'image_id',
  patient_id: 'patient_id',
  center_id: 'center_id',
  label: 'label',
};
const lungMapping: ColumnMapping = { image_id: 'slide', patient_id: 'patient', center_id: 'site', label: 'subtype' };
const lungCsv = resolve(projectRoot, '../shared/fixtures/csv/lung_labels_mini.csv');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${err}`);
    return err.problems;
  }
  assert.fail('expected the manifest to be refused');
}

test('the real lung_labels_mini cohort maps slide/patient/site/subtype', {
  skip: existsSync(lungCsv) ? false : '../shared/fixtures/csv/lung_labels_mini.csv is absent',
}, () => {
  const m = parseManifest(readFileSync(lungCsv, 'utf8'), { mapping: lungMapping, file: 'lung_labels_mini.csv' });
  assert.equal(m.rows.length, 20);
  assert.equal(m.patients.length, 20);
  assert.equal(m.centerNames.length, 14);
  assert.equal(m.labeled, true);
  assert.deepEqual(m.labelNames, ['adenocarcinoma', 'squamous']);
  assert.equal(m.rows[0].imageId, 'TCGA-83-5908-01Z-00-DX1.381c8f82-61a0-4e9d-982d-1ad0af7bead9');
  assert.equal(m.rows[0].patientId, 'TCGA-83-5908');
  assert.equal(m.rows[0].center, 'Site-28');
  assert.equal(m.rows[0].line, 2);
  // Names are not integers: center_id is the index in the sorted names.
  assert.equal(m.centerIdRule, 'sorted-index');
  assert.deepEqual(m.centerNames, [...m.centerNames].sort());
  assert.equal(m.centerIds['Site-124'], m.centerNames.indexOf('Site-124'));
  assert.deepEqual(m.extraColumns, []);
  // The default names do not exist in this file: the message says which variable maps them.
  const problems = problemsOf(() => parseManifest(readFileSync(lungCsv, 'utf8'), { mapping: standard }));
  assert.match(
    problems[0],
    /missing column 'image_id' \(image_id\); the header has: patient, subtype, site, slide\. Name the column that holds it with IMAGE_COLUMN/,
  );
  assert.ok(problems.some((p) => /PATIENT_COLUMN/.test(p)) && problems.some((p) => /CENTER_COLUMN/.test(p)));
});

test('BOM, CRLF, quoted fields with commas and newlines, extra columns kept', () => {
  const csv =
    '\ufeffimage_id,patient_id,center_id,label,notes\r\n' +
    's1,p1,3,tumor,"biopsy, left"\r\n' +
    '"s,2",p1,3,tumor,"two\r\nlines"\r\n' +
    '\r\n' +
    's3,p2,10,normal,\r\n';
  const m = parseManifest(csv, { mapping: standard });
  assert.deepEqual(
    m.rows.map((r) => [r.imageId, r.patientId, r.center, r.label, r.extra.notes]),
    [
      ['s1', 'p1', '3', 'tumor', 'biopsy, left'],
      ['s,2', 'p1', '3', 'tumor', 'two\r\nlines'],
      ['s3', 'p2', '10', 'normal', ''],
    ],
  );
  assert.deepEqual(
    m.patients.map((p) => [p.patientId, p.slides]),
    [
      ['p1', ['s1', 's,2']],
      ['p2', ['s3']],
    ],
  );
  assert.deepEqual(m.extraColumns, ['notes']);
  // Integer centers keep their values.
  assert.equal(m.centerIdRule, 'manifest-integer');
  assert.deepEqual(m.centerIds, { '10': 10, '3': 3 });
  assert.deepEqual(m.labelNames, ['normal', 'tumor']);
});

test('errors name the line and the column: empty ids, disagreeing patients, duplicate slides', () => {
  const csv = [
    'slide,patient,site,subtype',
    's1,p1,A,luad', // line 2
    's2,,A,luad', // 3: empty patient
    's3,p1,B,luad', // 4: center disagrees with line 2
    's4,p1,A,lusc', // 5: label disagrees with line 2
    's1,p9,A,luad', // 6: duplicate image id
    '  ,p3,A,luad', // 7: blank image id
    's7,p4,A,', // 8: empty label in a labelled set
  ].join('\n');
  const problems = problemsOf(() => parseManifest(csv, { mapping: lungMapping }));
  assert.deepEqual(problems, [
    "line 3, column 'patient' (patient_id): empty patient id; every row needs one",
    "line 7, column 'slide' (image_id): empty image id; every row needs one",
    "line 8, column 'subtype' (label): empty label; label every row, or set DATASET_KIND=inference for an unlabelled set",
    "line 6, column 'slide' (image_id): duplicate image id 's1' (first on line 2); a slide belongs to one row",
    "line 4, column 'site' (center_id): patient 'p1' is in center 'B' here but 'A' on line 2; a patient belongs to one center",
    "line 5, column 'subtype' (label): patient 'p1' has label 'lusc' here but 'luad' on line 2; a patient has one label",
  ]);
  // The message of the error, as the datum's log shows it, starts with the file.
  assert.throws(
    () => parseManifest(csv, { mapping: lungMapping, file: 'manifest.csv' }),
    /^ManifestError: manifest\.csv: 6 problems:\n {2}line 3, column 'patient'/,
  );
});

test('CSV syntax errors and an empty file are refused with the file named', () => {
  assert.match(
    problemsOf(() => parseManifest('image_id,patient_id,center_id\ns1,p1\n', { mapping: standard }))[0],
    /not valid CSV: .*line 2/,
  );
  assert.match(
    problemsOf(() => parseManifest('image_id,patient_id,center_id\ns1,"p1,A\n', { mapping: standard }))[0],
    /not valid CSV/,
  );
  assert.match(problemsOf(() => parseManifest('', { mapping: standard }))[0], /the file is empty/);
  assert.match(
    problemsOf(() => parseManifest('image_id,patient_id,center_id\n', { mapping: standard }))[0],
    /no rows after the header/,
  );
});

test('a manifest without labels is an inference set; DATASET_KIND decides when asked', () => {
  const noLabelColumn = 'image_id,patient_id,center_id\ns1,p1,A\ns2,p2,B\n';
  const m = parseManifest(noLabelColumn, { mapping: standard });
  assert.equal(m.labeled, false);
  assert.deepEqual(m.labelNames, []);
  assert.equal(m.rows[0].label, undefined);
  // An empty label column is no labels too.
  assert.equal(
    parseManifest('image_id,patient_id,center_id,label\ns1,p1,A,\ns2,p2,B,\n', { mapping: standard }).labeled,
    false,
  );
  // Asking for labels that are not there is an error, not a silent inference set.
  assert.match(
    problemsOf(() => parseManifest(noLabelColumn, { mapping: standard, kind: 'labeled' }))[0],
    /missing column 'label'.*LABEL_COLUMN/,
  );
  // Asking for inference ignores labels that are there.
  const inf = parseManifest('image_id,patient_id,center_id,label\ns1,p1,A,x\ns2,p1,A,y\n', {
    mapping: standard,
    kind: 'inference',
  });
  assert.equal(inf.labeled, false);
});

test('centers written as integers are kept unless two would collide', () => {
  assert.deepEqual(
    parseManifest('image_id,patient_id,center_id\ns1,p1,7\ns2,p2,-2\n', { mapping: standard }).centerIds,
    { '7': 7, '-2': -2 },
  );
  const collide = parseManifest('image_id,patient_id,center_id\ns1,p1,7\ns2,p2,007\n', { mapping: standard });
  assert.equal(collide.centerIdRule, 'sorted-index');
  assert.deepEqual(collide.centerIds, { '007': 0, '7': 1 });
});

test("a ';' or tab separated manifest (Excel outside English locales) reads as the comma one does", () => {
  const rows = [
    ['image_id', 'patient_id', 'center_id', 'label', 'note'],
    ['s1', 'p1', 'A', 'CE', 'left; lobe'],
    ['s2', 'p1', 'A', 'CE', ''],
    ['s3', 'p2', 'B', 'LAA', 'x,y'],
  ];
  const quote = (c: string) => (/[,;\t"]/.test(c) ? `"${c}"` : c);
  const csv = (sep: string) => `${rows.map((r) => r.map(quote).join(sep)).join('\r\n')}\r\n`;
  const comma = parseManifest(csv(','), { mapping: standard });
  assert.equal(comma.rows.length, 3);
  assert.equal(comma.rows[0].extra.note, 'left; lobe');
  for (const sep of [';', '\t']) assert.deepEqual(parseManifest(`\uFEFF${csv(sep)}`, { mapping: standard }), comma);
});

test('a header still missing a column names the column, the header and the variable; one column says separators', () => {
  const [semi] = problemsOf(() =>
    parseManifest('slide;patient_id;center_id\ns1;p1;A\n', { mapping: { ...standard, label: 'label' } }),
  );
  assert.equal(
    semi,
    "missing column 'image_id' (image_id); the header has: slide, patient_id, center_id. " +
      'Name the column that holds it with IMAGE_COLUMN.',
  );
  const [pipe] = problemsOf(() => parseManifest('image_id|patient_id|center_id\ns1|p1|A\n', { mapping: standard }));
  assert.match(pipe, /^missing column 'image_id' \(image_id\); the header has: image_id\|patient_id\|center_id\. /);
  assert.match(pipe, /IMAGE_COLUMN\. The header reads as one column: separate columns with ',', ';' or a tab\.$/);
});
