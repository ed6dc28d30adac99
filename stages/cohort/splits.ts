/**
 * Train/val/eval assignment by patient, stratified by center, reproducible from a seed.
 *
 * Pinned patients keep their split. The others of each center get target counts as close as possible to the
 * fractions of the center's total (pins included): each split's share is rounded down, and the leftover patients
 * of all centers go, one by one, to the split the whole cohort needs most, among the splits that center was owed a
 * fraction of. So a big center comes out at floor/ceil of its targets, and a cohort of many one-patient centers still
 * gets val and eval patients in proportion. Which patients of a center fill which split follows a seeded hash of
 * each patient's own id (stableOrder), so a new patient moves only a few others.
 */
import { ManifestError, parseCsv } from './manifest.js';
import { SPLITS_CSV } from '../../shared/contract/index.js';
import { fnv1a32, mulberry32 } from '../../shared/random.js';

export const SPLITS = ['train', 'val', 'eval'] as const;
export type Split = (typeof SPLITS)[number];
export const INFERENCE = 'inference';

export interface SplitPatient {
  patientId: string;
  center: string;
}

/** Read `/splits.csv` (`patient_id, split`) of pinned assignments. */
export function parsePins(text: string, file = SPLITS_CSV): Map<string, Split> {
  const { header, records } = parseCsv(text, file, 'patient');
  const problems: string[] = [];
  const pi = header.indexOf('patient_id');
  const si = header.indexOf('split');
  if (pi < 0 || si < 0) {
    throw new ManifestError(file, [`needs columns 'patient_id' and 'split'; the header has: ${header.join(', ')}`]);
  }
  const pins = new Map<string, Split>();
  const lineOf = new Map<string, number>();
  for (const { line, cells } of records) {
    const patient = (cells[pi] ?? '').trim();
    const split = (cells[si] ?? '').trim().toLowerCase();
    if (!patient) {
      problems.push(`line ${line}, column 'patient_id': empty patient id`);
      continue;
    }
    if (split === INFERENCE) continue; // written by an inference run; no pin
    if (!(SPLITS as readonly string[]).includes(split)) {
      problems.push(`line ${line}, column 'split': '${cells[si]}' is not one of ${SPLITS.join(', ')}`);
      continue;
    }
    const prev = pins.get(patient);
    if (prev !== undefined && prev !== split) {
      problems.push(
        `line ${line}, column 'split': patient '${patient}' is pinned to '${split}' here but '${prev}' on line ${lineOf.get(patient)}`,
      );
      continue;
    }
    pins.set(patient, split as Split);
    lineOf.set(patient, line);
  }
  if (problems.length) throw new ManifestError(file, problems);
  return pins;
}

/** A Fisher-Yates shuffle driven by a PRNG seeded with a hash of `key`: the same key, the same order. */
export function seededShuffle<T>(items: T[], key: string): T[] {
  const out = [...items];
  const rand = mulberry32(fnv1a32(key));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export interface AssignOptions {
  fractions: [number, number, number];
  seed: string | number;
  pins?: Map<string, Split>;
}

/**
 * Free patients in the order they fill train, then val, then eval: by a seeded hash of each patient's own id, so a
 * patient's place does not depend on who else is in the cohort. A new patient then moves others only where a
 * split's quota boundary shifts (about one patient per boundary per center), not across the whole center.
 * Committing splits.csv back as pins freezes the assignment completely.
 */
function stableOrder(free: SplitPatient[], seed: string): SplitPatient[] {
  const key = new Map(free.map((p) => [p.patientId, mulberry32(fnv1a32(`${seed}:${p.patientId}`))()]));
  return [...free].sort(
    (a, b) =>
      key.get(a.patientId)! - key.get(b.patientId)! ||
      (a.patientId < b.patientId ? -1 : a.patientId > b.patientId ? 1 : 0),
  );
}

export function assignSplits(patients: SplitPatient[], options: AssignOptions): Map<string, Split> {
  const total = options.fractions.reduce((a, b) => a + b, 0);
  const f = options.fractions.map((x) => x / total);
  const pins = options.pins ?? new Map();
  const seed = String(options.seed);

  const centers = new Map<string, SplitPatient[]>();
  for (const p of patients) {
    const members = centers.get(p.center);
    if (members) members.push(p);
    else centers.set(p.center, [p]);
  }
  const centerNames = [...centers.keys()].sort();

  const assignment = new Map<string, Split>();
  // What the cohort still needs per split: the sum of the centers' ideal shares minus what rounding down gave.
  const need = [0, 0, 0];
  interface CenterPlan {
    name: string;
    free: SplitPatient[];
    quota: number[];
    frac: number[];
    leftover: number;
  }
  const plans: CenterPlan[] = [];
  for (const name of centerNames) {
    const members = centers.get(name)!;
    const pinned = [0, 0, 0];
    const free: SplitPatient[] = [];
    for (const p of members) {
      const pin = pins.get(p.patientId);
      if (pin) {
        assignment.set(p.patientId, pin);
        pinned[SPLITS.indexOf(pin)]++;
      } else free.push(p);
    }
    // What the free patients should add so the center ends near its fractions; splits already over target get none.
    const want = f.map((x, s) => Math.max(0, x * members.length - pinned[s]));
    const wantSum = want.reduce((a, b) => a + b, 0);
    const ideal = want.map((w) => (wantSum > 0 ? (w * free.length) / wantSum : 0));
    const quota = ideal.map(Math.floor);
    quota.forEach((q, s) => (need[s] += ideal[s] - q));
    const frac = ideal.map((x, s) => x - quota[s]);
    const leftover = free.length - quota.reduce((a, b) => a + b, 0);
    plans.push({ name, free: stableOrder(free, seed), quota, frac, leftover });
  }

  // Leftover patients: the split the cohort needs most, among those the center has a fractional claim to.
  for (const plan of seededShuffle(plans, `${seed}:centers`)) {
    const taken = new Set<number>();
    for (let k = 0; k < plan.leftover; k++) {
      let best = -1;
      for (let s = 0; s < 3; s++) {
        if (taken.has(s) || plan.frac[s] <= 1e-9) continue;
        if (
          best < 0 ||
          need[s] > need[best] + 1e-9 ||
          (Math.abs(need[s] - need[best]) <= 1e-9 && plan.frac[s] > plan.frac[best])
        )
          best = s;
      }
      if (best < 0) best = plan.frac.indexOf(Math.max(...plan.frac)); // rounding noise
      taken.add(best);
      plan.quota[best]++;
      need[best]--;
    }
    let i = 0;
    for (let s = 0; s < 3; s++)
      for (let q = 0; q < plan.quota[s]; q++) assignment.set(plan.free[i++].patientId, SPLITS[s]);
  }
  return assignment;
}

/** `splits.csv` text: the assignment used plus pins of patients not in this dataset (so committing it back loses none). */
export function formatSplitsCsv(assignment: Map<string, string>, pins: Map<string, Split> = new Map()): string {
  const all = new Map(assignment);
  for (const [p, s] of pins) if (!all.has(p)) all.set(p, s);
  const ids = [...all.keys()].sort();
  const quote = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return ['patient_id,split', ...ids.map((p) => `${quote(p)},${all.get(p)}`)].join('\n') + '\n';
}
