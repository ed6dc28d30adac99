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
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MERGE_PIPELINES, MergeEngine, projectRoot } from './merge-engine.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,300' },
    tiles: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '1280' },
    dir: { type: 'string', default: '/work/tmp/merge-scale' },
    /** rounds of (a) and (b) on one cohort */
    repeat: { type: 'string', default: '1' },
    /** keep each built cohort beside --dir, keyed by the built code and specs, and start from it next time */
    cache: { type: 'boolean', default: false },
    /**
     * start from the cohorts cached under this key instead (`<dir>/n<N>-t<T>-d<D>-<key>`): for an engine change that
     * leaves every merge output as it was, measured over the cohort the previous code built
     */
    'cache-key': { type: 'string' },
  },
});
const TILES = Number(values.tiles);
const DIM = Number(values.dim);

const PROBE = `// written by scripts/bench/merge-scale.ts: a datum process's own CPU and I/O, appended at exit
const fs = require('node:fs');
if (process.env.PACH_DATUM_ID && process.env.MERGE_SCALE_PROBE) {
  process.on('exit', () => {
    try {
      const io = fs.readFileSync('/proc/self/io', 'utf8');
      const get = (k) => Number(new RegExp('^' + k + ': (\\\\d+)', 'm').exec(io)[1]);
      const u = process.cpuUsage();
      fs.appendFileSync(process.env.MERGE_SCALE_PROBE, JSON.stringify({
        pipeline: process.env.PPS_PIPELINE_NAME, datum: process.env.PACH_DATUM_ID,
        cpu: (u.user + u.system) / 1e6, read: get('rchar'), written: get('wchar'), s: process.uptime(),
      }) + '\\n');
    } catch {}
  });
}
`;

/** rchar/wchar of a process and of the children it reaped (Linux adds a reaped child's I/O to its parent's). */
function procIo(pid: number | 'self'): { r: number; w: number } {
  const t = readFileSync(`/proc/${pid}/io`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(t)![1]);
  return { r: get('rchar'), w: get('wchar') };
}

/** CPU seconds of a process itself and of its reaped children (utime+stime, cutime+cstime). */
function procCpu(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const tick = 100; // USER_HZ
  return { self: (f[11] + f[12]) / tick, children: (f[13] + f[14]) / tick };
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
const kb = (b: number) => `${(b / 2 ** 10).toFixed(0)} KiB`;

interface Sample {
  t: number;
  io: { r: number; w: number };
  cpu: { self: number; children: number };
}

/** One pipeline's job in a run: planning (before 'job started'), then its datums and the output commit. */
interface JobCost {
  pipeline: string;
  datums: number;
  planS: number;
  planCpu: number;
  runS: number;
  /** the runner's own CPU while the job ran (mounting, ingesting outputs, the output commit) */
  engineCpu: number;
  /** the datum processes' CPU (their own, from the probe) */
  datumCpu: number;
  /** bytes the datum processes read and wrote themselves */
  datumRead: number;
  datumWritten: number;
  /** bytes the runner read and wrote itself over plan + run (total minus its datums') */
  engineRead: number;
  engineWritten: number;
}

interface RunCost {
  s: number;
  read: number;
  written: number;
  stored: number;
  jobs: JobCost[];
}

/** `tessella run` with its JSON log followed: /proc of the runner sampled at each job's start and end. */
async function measure(e: MergeEngine, home: string, probeFile: string): Promise<RunCost> {
  const s0 = storeBytes(home);
  writeFileSync(probeFile, '');
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(projectRoot, 'dist', 'engine', 'cli.js'), 'run'], {
    cwd: projectRoot,
    env: {
      ...process.env,
      TESSELLA_HOME: home,
      TESSELLA_LOG_FORMAT: 'json',
      TESSELLA_GPUS: '',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(e.o.work, 'probe.cjs')}`.trim(),
      MERGE_SCALE_PROBE: probeFile,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const pid = child.pid!;
  const sample = (): Sample => ({ t: performance.now(), io: procIo(pid), cpu: procCpu(pid) });
  const marks: { event: string; pipeline: string; datums: number; at: Sample }[] = [];
  let first: Sample | undefined;
  try {
    first = sample();
  } catch {
    /* exited already */
  }
  let last = first;
  let tail = '';
  let buf = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const line of lines) {
      tail = (tail + line + '\n').slice(-4000);
      if (!line.startsWith('{')) continue;
      let ev: { event?: string; pipeline?: string; datums?: number };
      try {
        ev = JSON.parse(line);
      } catch {
        continue;
      }
      if (ev.event !== 'job started' && ev.event !== 'job succeeded' && ev.event !== 'job failed') continue;
      try {
        last = sample();
      } catch {
        continue;
      }
      marks.push({ event: ev.event, pipeline: ev.pipeline ?? '?', datums: ev.datums ?? 0, at: last });
    }
  });
  const code: number = await new Promise((res) => child.on('close', (c) => res(c ?? 1)));
  if (code !== 0) throw new Error(`tessella run exited ${code}:\n${tail}`);
  const s = (performance.now() - t0) / 1000;
  // the whole run, children included (reaped by the runner, then by this process)
  const probes = readFileSync(probeFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { pipeline: string; cpu: number; read: number; written: number });
  const jobs: JobCost[] = [];
  let prev = first!;
  for (let i = 0; i < marks.length; i++) {
    const m = marks[i];
    if (m.event !== 'job started') {
      prev = m.at;
      continue;
    }
    const end = marks[i + 1];
    if (!end || end.pipeline !== m.pipeline) continue;
    const mine = probes.filter((p) => p.pipeline === m.pipeline);
    const sum = (k: 'cpu' | 'read' | 'written') => mine.reduce((a, p) => a + p[k], 0);
    const datumRead = sum('read');
    const datumWritten = sum('written');
    jobs.push({
      pipeline: m.pipeline,
      datums: mine.length,
      planS: (m.at.t - prev.t) / 1000,
      planCpu: m.at.cpu.self - prev.cpu.self,
      runS: (end.at.t - m.at.t) / 1000,
      engineCpu: end.at.cpu.self - m.at.cpu.self,
      datumCpu: sum('cpu'),
      datumRead,
      datumWritten,
      engineRead: end.at.io.r - prev.io.r - datumRead,
      engineWritten: end.at.io.w - prev.io.w - datumWritten,
    });
    prev = end.at;
    i++;
  }
  const all = marks.at(-1)?.at;
  return {
    s,
    read: all && first ? all.io.r - first.io.r : 0,
    written: all && first ? all.io.w - first.io.w : 0,
    stored: storeBytes(home) - s0,
    jobs,
  };
}

function jobTable(m: RunCost): string[] {
  const head =
    'pipeline      datums  plan s  plan cpu  run s  engine cpu  datum cpu  datum read  datum written  engine read  engine written';
  const rows = m.jobs.map((j) =>
    [
      j.pipeline.padEnd(13),
      String(j.datums).padStart(6),
      j.planS.toFixed(2).padStart(7),
      j.planCpu.toFixed(2).padStart(9),
      j.runS.toFixed(2).padStart(6),
      j.engineCpu.toFixed(2).padStart(11),
      j.datumCpu.toFixed(2).padStart(10),
      kb(j.datumRead).padStart(11),
      kb(j.datumWritten).padStart(14),
      kb(j.engineRead).padStart(12),
      kb(j.engineWritten).padStart(15),
    ].join(' '),
  );
  return [`    ${head}`, ...rows.map((r) => `    ${r}`)];
}

/** What a built cohort depends on: the merge stages, the shared code and the merge specs (a cached cohort is reused only with these unchanged). */
function codeKey(): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) h.update(p).update(readFileSync(p));
    }
  };
  for (const d of ['stages', 'shared', 'engine']) walk(join(projectRoot, 'dist', d));
  for (const p of MERGE_PIPELINES) h.update(readFileSync(join(projectRoot, 'pipelines', `${p}.yaml`)));
  return h.digest('hex').slice(0, 12);
}

function cohortOf(N: number): { manifest: string[]; patients: number } {
  const patients = Math.max(1, Math.floor(N / 2));
  const manifest = ['image_id,patient_id,center_id,label'];
  for (let i = 0; i < N; i++) {
    const p = i % patients;
    manifest.push(
      `s${String(i).padStart(5, '0')},P${String(p).padStart(5, '0')},C${p % 3},${p % 2 ? 'tumor' : 'normal'}`,
    );
  }
  return { manifest, patients };
}

const rows: string[] = [];
for (const N of values.sizes!.split(',').map(Number)) {
  const { manifest, patients } = cohortOf(N);
  const root = join(values.dir!, `n${N}`);
  rmSync(root, { recursive: true, force: true });
  const home = join(root, 'home');
  const work = join(root, 'work');
  const opts = {
    home,
    work,
    dist: true,
    env: { EXPECTED_PATIENTS: String(patients), PATIENTS_PER_SHARD: '2', SPLIT_SEED: '1' },
  };
  const key = values['cache-key'] ?? (values.cache ? codeKey() : undefined);
  const cached = key ? join(values.dir!, `n${N}-t${TILES}-d${DIM}-${key}`) : undefined;
  let e: MergeEngine;
  let firstLine: string;
  if (cached && existsSync(join(cached, 'built'))) {
    cpSync(cached, root, { recursive: true, verbatimSymlinks: true });
    e = new MergeEngine(opts);
    e.jobsSince();
    firstLine = `first run: cached in ${cached}`;
  } else {
    e = new MergeEngine(opts);
    e.setup();
    const slides = Array.from({ length: N }, (_, i) => ({
      id: `s${String(i).padStart(5, '0')}`,
      index: i,
      tiles: TILES,
      dim: DIM,
    }));
    // Commit in batches of 50 slides, so the staging folder stays small.
    for (let i = 0; i < N; i += 50) e.putSlides(slides.slice(i, i + 50));
    e.putManifest(manifest.join('\n') + '\n');
    writeFileSync(join(work, 'probe.cjs'), PROBE);
    const first = await measure(e, home, join(work, 'probe.jsonl'));
    e.jobsSince();
    firstLine = `first run ${first.s.toFixed(1)} s`;
    if (cached) {
      rmSync(cached, { recursive: true, force: true });
      cpSync(root, cached, { recursive: true, verbatimSymlinks: true });
      writeFileSync(join(cached, 'built'), '');
    }
  }
  writeFileSync(join(work, 'probe.cjs'), PROBE);
  const dataset = storeBytes(home);
  const out = [`N=${N} slides (${patients} patients), store ${gb(dataset)}; ${firstLine}`];
  const fmt = (m: RunCost) =>
    `${m.s.toFixed(2)} s, read ${mb(m.read)}, written ${mb(m.written)}, new stored ${mb(m.stored)}`;
  const datums = (j: ReturnType<MergeEngine['jobsSince']>) =>
    Object.entries(j)
      .map(([p, c]) => `${p} ${c.processed}/${c.processed + c.skipped}`)
      .join(', ');
  for (let r = 0; r < Number(values.repeat); r++) {
    // (a) a new slide of an existing patient
    const a = { id: `new-slide-a${r}`, index: N + 1 + 2 * r, tiles: TILES, dim: DIM };
    e.putSlides([a]);
    manifest.push(`${a.id},P00000,C0,normal`);
    e.putManifest(manifest.join('\n') + '\n');
    const ra = await measure(e, home, join(work, 'probe.jsonl'));
    const ja = e.jobsSince();
    // (b) a new patient
    const b = { id: `new-slide-b${r}`, index: N + 2 + 2 * r, tiles: TILES, dim: DIM };
    e.putSlides([b]);
    manifest.push(`${b.id},PNEW${r},C1,tumor`);
    e.putManifest(manifest.join('\n') + '\n');
    const rb = await measure(e, home, join(work, 'probe.jsonl'));
    const jb = e.jobsSince();
    out.push(
      `  (a) new slide of an existing patient: ${fmt(ra)}  [datums run/total: ${datums(ja)}]`,
      ...jobTable(ra),
      `  (b) new patient:                      ${fmt(rb)}  [datums run/total: ${datums(jb)}]`,
      ...jobTable(rb),
    );
  }
  const line = out.join('\n');
  console.log(line);
  rows.push(line);
  rmSync(root, { recursive: true, force: true });
}
console.log('\n' + rows.join('\n'));
