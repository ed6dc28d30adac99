import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assignSplits,
  formatSplitsCsv,
  parsePins,
  SPLITS,
  type Split,
  type SplitPatient,
} from '../../stages/cohort/splits.js';
import { ManifestError } from '../../stages/cohort/manifest.js';

const F: [number, number, number] = [0.8, 0.1, 0.1];

function cohort(sizes: Record<string, number>, prefix = 'P'): SplitPatient[] {
  const out: SplitPatient[] = [];
  for (const [center, n] of Object.entries(sizes))
    for (let i = 0; i < n; i++) out.push({ patientId: `${prefix}-${center}-${String(i).padStart(3, '0')}`, center });
  return out;
}

function tally(patients: SplitPatient[], a: Map<string, Split>) {
  const per: Record<string, number[]> = {};
  for (const p of patients) (per[p.center] ??= [0, 0, 0])[SPLITS.indexOf(a.get(p.patientId)!)]++;
  return per;
}

test('200 patients in 5 centers: every center at floor/ceil of 80/10/10, the cohort too', (t) => {
  const sizes = { A: 70, B: 50, C: 40, D: 25, E: 15 };
  const patients = cohort(sizes);
  const a = assignSplits(patients, { fractions: F, seed: 7 });
  assert.equal(a.size, 200);
  const per = tally(patients, a);
  const lines: string[] = [];
  for (const [center, counts] of Object.entries(per)) {
    const n = counts.reduce((x, y) => x + y, 0);
    counts.forEach((c, s) => {
      assert.ok(c === Math.floor(F[s] * n) || c === Math.ceil(F[s] * n), `center ${center} ${SPLITS[s]}: ${c} of ${n}`);
    });
    lines.push(`${center} (n=${n}): ${counts.map((c) => (c / n).toFixed(3)).join('/')}`);
  }
  const totals = [0, 1, 2].map((s) => Object.values(per).reduce((x, c) => x + c[s], 0));
  assert.deepEqual(totals, [160, 20, 20]);
  lines.push(`all (n=200): ${totals.map((c) => (c / 200).toFixed(3)).join('/')}`);
  t.diagnostic(`train/val/eval fractions per center: ${lines.join('; ')}`);
});

test('reproducible from the seed; another seed picks other patients', () => {
  const patients = cohort({ A: 30, B: 20 });
  const a1 = assignSplits(patients, { fractions: F, seed: 'x' });
  const a2 = assignSplits([...patients].reverse(), { fractions: F, seed: 'x' });
  assert.deepEqual([...a1.entries()].sort(), [...a2.entries()].sort(), 'input order does not matter');
  const b = assignSplits(patients, { fractions: F, seed: 'y' });
  assert.notDeepEqual([...a1.entries()].sort(), [...b.entries()].sort());
  assert.deepEqual(tally(patients, a1), tally(patients, b), 'same counts per center');
});

test('many one-patient centers still give val and eval patients in proportion', () => {
  const sizes: Record<string, number> = {};
  for (let c = 0; c < 20; c++) sizes[`site${c}`] = 1;
  const patients = cohort(sizes);
  const a = assignSplits(patients, { fractions: F, seed: 1 });
  const totals = SPLITS.map((s) => [...a.values()].filter((v) => v === s).length);
  assert.deepEqual(totals, [16, 2, 2]);
});

test('pins are kept when new patients arrive, and the newcomers fill toward the targets', () => {
  const first = cohort({ A: 40, B: 20 });
  const a1 = assignSplits(first, { fractions: F, seed: 3 });
  // The user commits splits.csv back; the round trip through CSV is part of what is tested.
  const pins = parsePins(formatSplitsCsv(a1));
  assert.equal(pins.size, 60);
  const newcomers = cohort({ A: 10, B: 10, C: 10 }, 'NEW');
  const all = [...first, ...newcomers];
  const a2 = assignSplits(all, { fractions: F, seed: 3, pins });
  for (const p of first) assert.equal(a2.get(p.patientId), a1.get(p.patientId), `pinned ${p.patientId} moved`);
  const per = tally(all, a2);
  assert.deepEqual(per.A, [40, 5, 5]);
  assert.deepEqual(per.B, [24, 3, 3]);
  assert.deepEqual(per.C, [8, 1, 1]);
});

test('pins beyond a split target: the others go where the center still needs patients', () => {
  const patients = cohort({ A: 10 });
  // Five pinned to eval (target 1): the five others should not go to eval.
  const pins = new Map<string, Split>(patients.slice(0, 5).map((p) => [p.patientId, 'eval']));
  const a = assignSplits(patients, { fractions: F, seed: 0, pins });
  assert.deepEqual(tally(patients, a).A, [4, 1, 5]);
});

test('splits.csv: pins of absent patients are kept; bad pins name the line', () => {
  const csv = formatSplitsCsv(
    new Map([
      ['p2', 'val'],
      ['p,1', 'train'],
    ]),
    new Map([
      ['gone', 'eval'],
      ['p2', 'train'],
    ]),
  );
  assert.equal(csv, 'patient_id,split\ngone,eval\n"p,1",train\np2,val\n');
  assert.deepEqual(
    [...parsePins(csv)],
    [
      ['gone', 'eval'],
      ['p,1', 'train'],
      ['p2', 'val'],
    ],
  );
  const bad = (text: string) => {
    try {
      parsePins(text);
    } catch (err) {
      assert.ok(err instanceof ManifestError);
      return err.problems;
    }
    assert.fail('expected refusal');
  };
  assert.deepEqual(bad('patient_id,split\np1,test\n,train\np2,val\np2,eval\n'), [
    "line 2, column 'split': 'test' is not one of train, val, eval",
    "line 3, column 'patient_id': empty patient id",
    "line 5, column 'split': patient 'p2' is pinned to 'eval' here but 'val' on line 4",
  ]);
  assert.match(bad('patient,fold\np1,1\n')[0], /needs columns 'patient_id' and 'split'/);
  // splits.csv has a row per patient (the manifest one per slide); Excel's ';' reads too
  assert.deepEqual(bad(''), ['the file is empty; it needs a header row and one row per patient']);
  assert.deepEqual([...parsePins('patient_id;split\np1;val\n')], [['p1', 'val']]);
  // An inference run's splits.csv pins nothing.
  assert.equal(parsePins('patient_id,split\np1,inference\n').size, 0);
});

test("a new patient moves at most a few others: places come from each patient's own seeded hash", () => {
  const cohort = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ patientId: `p${String(i).padStart(4, '0')}`, center: `c${i % 3}` }));
  let worst = 0;
  for (let n = 300; n < 320; n++) {
    const before = assignSplits(cohort(n), { fractions: [0.8, 0.1, 0.1], seed: 0 });
    const after = assignSplits(cohort(n + 1), { fractions: [0.8, 0.1, 0.1], seed: 0 });
    let moved = 0;
    for (const [p, s] of before) if (after.get(p) !== s) moved++;
    worst = Math.max(worst, moved);
  }
  // Only where a quota boundary shifts: at most two boundaries in the new patient's center, plus leftovers.
  assert.ok(worst <= 4, `adding one patient to ~300 moved ${worst} others`);
});
