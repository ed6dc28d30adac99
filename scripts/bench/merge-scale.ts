/**
 * merge at cohort scale, through the engine: cohorts of N slides (2 per patient) with realistic per-slide outputs
 * (2,000 tiles x 1,280 floats, avg and max: ~20 MB per slide; synthetic values, see merge-engine.ts), only the four
 * merge-* pipelines over plain `embed` / `histogram` / `tile-detect` repos. For each N: the first run, then
 * (a) one new slide of an existing patient and (b) one new patient, each a commit of its outputs and of the manifest
 * with its row, then `tessella run`. Prints time, bytes read and written (rchar/wchar of `tessella run` and every
 * process it started) and new stored bytes (blob store growth).
 *
 *   npm run build && node dist/scripts/bench/merge-scale.js --sizes 10,100,300 [--tiles 2000] [--dim 1280] [--dir /work/tmp]
 *
 * Shards are configured for the cohort (EXPECTED_PATIENTS = N/2, PATIENTS_PER_SHARD = 2), as a user sizes them for
 * the cohort they plan: every N then has shards of ~2 patients, and what is measured is how the rest scales with N.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MergeEngine } from './merge-engine.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,300' },
    tiles: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '1280' },
    dir: { type: 'string', default: '/work/tmp/merge-scale' },
  },
});
const TILES = Number(values.tiles);
const DIM = Number(values.dim);

function io(): { r: number; w: number } {
  const t = readFileSync('/proc/self/io', 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(t)![1]);
  return { r: get('rchar'), w: get('wchar') };
}

function storeBytes(home: string): number {
  const dir = join(home, 'blobs');
  let n = 0;
  for (const sub of readdirSync(dir))
    for (const f of readdirSync(join(dir, sub))) n += statSync(join(dir, sub, f)).size;
  return n;
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(3)} GiB`;
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function measure(e: MergeEngine, home: string): { s: number; read: number; written: number; stored: number } {
  const s0 = storeBytes(home);
  // Children's I/O is added to this process's /proc/self/io when they are reaped: the run's whole process tree.
  const i0 = io();
  const t0 = performance.now();
  e.run();
  const s = (performance.now() - t0) / 1000;
  const i1 = io();
  return { s, read: i1.r - i0.r, written: i1.w - i0.w, stored: storeBytes(home) - s0 };
}

const rows: string[] = [];
for (const N of values.sizes!.split(',').map(Number)) {
  const root = join(values.dir!, `n${N}`);
  rmSync(root, { recursive: true, force: true });
  const home = join(root, 'home');
  const patients = Math.max(1, Math.floor(N / 2));
  const e = new MergeEngine({
    home,
    work: join(root, 'work'),
    dist: true,
    env: { EXPECTED_PATIENTS: String(patients), PATIENTS_PER_SHARD: '2', SPLIT_SEED: '1' },
  });
  e.setup();
  const manifest = ['image_id,patient_id,center_id,label'];
  const slides = Array.from({ length: N }, (_, i) => ({
    id: `s${String(i).padStart(5, '0')}`,
    index: i,
    tiles: TILES,
    dim: DIM,
  }));
  slides.forEach((s, i) => {
    const p = i % patients;
    manifest.push(`${s.id},P${String(p).padStart(5, '0')},C${p % 3},${p % 2 ? 'tumor' : 'normal'}`);
  });
  // Commit in batches of 50 slides, so the staging folder stays small.
  for (let i = 0; i < N; i += 50) e.putSlides(slides.slice(i, i + 50));
  e.putManifest(manifest.join('\n') + '\n');
  const first = measure(e, home);
  e.jobsSince();
  const dataset = storeBytes(home);

  // (a) a new slide of an existing patient
  const a = { id: 'new-slide-a', index: N + 1, tiles: TILES, dim: DIM };
  e.putSlides([a]);
  manifest.push(`${a.id},P00000,C0,normal`);
  e.putManifest(manifest.join('\n') + '\n');
  const ra = measure(e, home);
  const ja = e.jobsSince();
  // (b) a new patient
  const b = { id: 'new-slide-b', index: N + 2, tiles: TILES, dim: DIM };
  e.putSlides([b]);
  manifest.push(`${b.id},PNEW,C1,tumor`);
  e.putManifest(manifest.join('\n') + '\n');
  const rb = measure(e, home);
  const jb = e.jobsSince();
  const fmt = (m: typeof ra) =>
    `${m.s.toFixed(2)} s, read ${mb(m.read)}, written ${mb(m.written)}, new stored ${mb(m.stored)}`;
  const datums = (j: typeof ja) =>
    Object.entries(j)
      .map(([p, c]) => `${p} ${c.processed}/${c.processed + c.skipped}`)
      .join(', ');
  const line = [
    `N=${N} slides (${patients} patients), store ${gb(dataset)}; first run ${first.s.toFixed(1)} s`,
    `  (a) new slide of an existing patient: ${fmt(ra)}  [datums run/total: ${datums(ja)}]`,
    `  (b) new patient:                      ${fmt(rb)}  [datums run/total: ${datums(jb)}]`,
  ].join('\n');
  console.log(line);
  rows.push(line);
  rmSync(root, { recursive: true, force: true });
}
console.log('\n' + rows.join('\n'));
