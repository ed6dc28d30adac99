/**
 * The engine at cohort scale, with in-process calls (no node start per command; the datum processes are real):
 *   1. One file per commit, a trivial pipeline (`cp`, glob `/*`) run after each commit, up to N (default 20,000):
 *      at each checkpoint (10, 1,000, 5,000, 20,000) the metadata bytes (SQLite, after a WAL checkpoint), and the
 *      median ms of `put file` of one file and of `run` processing that one new datum (over --samples commits).
 *      Past --run-each-until (default 5,000) the pipeline runs every --run-every (default 10) commits, to keep the
 *      script under half an hour here; the checkpoints themselves always measure one put + one run per sample.
 *   2. 20,000 files in ONE commit, a pipeline of `true`: engine CPU per datum (this process's user+system time)
 *      beyond the CPU of spawning `true` alone, and wall time.
 *   3. `glob file /*` over 20,000 folders against `list file /` of the same commit.
 *
 *   node --import tsx scripts/bench/engine-scale.ts [--n 20000] [--bulk 20000] [--samples 15] [--dir /tmp/x]
 * Prints a table per part and one JSON object at the end.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Logger } from '../../shared/log.js';
import { putPipelines } from '../../engine/pps/pipelines.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { createRepo } from '../../engine/pfs/repos.js';
import { globFile, listFile } from '../../engine/pfs/read-files.js';
import { putFiles } from '../../engine/pfs/put-files.js';
import { resolveCommit } from '../../engine/pfs/commits.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { Store } from '../../engine/store/store.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    bulk: { type: 'string', default: '20000' },
    samples: { type: 'string', default: '15' },
    'run-each-until': { type: 'string', default: '5000' },
    'run-every': { type: 'string', default: '10' },
    dir: { type: 'string' },
  },
});
const N = Number(values.n);
const BULK = Number(values.bulk);
const SAMPLES = Number(values.samples);
const RUN_EACH_UNTIL = Number(values['run-each-until']);
const RUN_EVERY = Number(values['run-every']);
const base = values.dir ?? mkdtempSync(join(tmpdir(), 'tessella-scale-'));
mkdirSync(base, { recursive: true });
const quiet = new Logger('bench', {}, { isTTY: false, write: () => undefined });
process.env.TESSELLA_FSYNC ??= '0'; // the metadata path is measured, not the disk's fsync latency

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function metadataBytes(store: Store): number {
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const f = join(store.home, 'meta.sqlite');
  let n = statSync(f).size;
  try {
    n += statSync(f + '-wal').size;
  } catch {
    /* none */
  }
  return n;
}

async function oneFilePerCommit() {
  const home = join(base, 'one-per-commit');
  const local = join(base, 'files');
  mkdirSync(local, { recursive: true });
  const store = Store.open(home);
  createRepo(store, 'in');
  putPipelines(
    store,
    parseSpecs(
      `pipeline: {name: copy}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {cmd: [sh], stdin: ["cp -r $in /pfs/out/"]}\n`,
      'bench.yaml',
    ),
  );
  const checkpoints = [10, 1000, 5000, 20000].filter((c) => c <= N);
  if (!checkpoints.includes(N)) checkpoints.push(N);
  const rows: {
    n: number;
    metadata_bytes: number;
    bytes_per_commit: number;
    put_ms: number;
    run_ms: number;
    plan: string;
  }[] = [];
  let i = 0;
  const putOne = async () => {
    const p = join(local, `f${i}`);
    writeFileSync(p, `file ${i}\n`);
    await putFiles(store, 'in', 'master', [{ local: p, path: `/f${String(i).padStart(6, '0')}` }]);
    rmSync(p);
    i++;
  };
  const run = async (mayBeIdle = false) => {
    const r = await runJobs(store, { log: quiet });
    if (mayBeIdle && r.length === 0) return undefined;
    if (r.length !== 1 || r[0].state !== 'success') throw new Error(`run: ${JSON.stringify(r)}`);
    return r[0];
  };
  for (const cp of checkpoints) {
    // grow to the checkpoint (minus the samples, which are measured one put + one run each)
    while (i < cp - SAMPLES) {
      await putOne();
      if (i <= RUN_EACH_UNTIL || i % RUN_EVERY === 0) await run();
      if (i % 1000 === 0) process.stderr.write(`  ${i} commits\n`);
    }
    await run(true);
    const puts: number[] = [];
    const runs: number[] = [];
    let processed = 0;
    while (i < cp) {
      let t0 = performance.now();
      await putOne();
      puts.push(performance.now() - t0);
      t0 = performance.now();
      const r = await run();
      runs.push(performance.now() - t0);
      processed += r!.processed;
    }
    if (processed !== runs.length)
      throw new Error(`expected one new datum per run, got ${processed} over ${runs.length}`);
    const meta = metadataBytes(store);
    const commits = (store.db.prepare(`SELECT count(*) AS n FROM commits`).get() as { n: number }).n;
    rows.push({
      n: cp,
      metadata_bytes: meta,
      bytes_per_commit: Math.round(meta / commits),
      put_ms: round(median(puts)),
      run_ms: round(median(runs)),
      plan: 'incremental',
    });
    process.stderr.write(`  checkpoint ${cp}: ${JSON.stringify(rows.at(-1))}\n`);
  }
  store.close();
  rmSync(home, { recursive: true, force: true });
  return rows;
}

async function spawnTrueCpu(n: number): Promise<{ cpu_ms: number; wall_ms: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    await new Promise<void>((resolve, reject) => {
      const c = spawn('true', [], { stdio: 'ignore', detached: true });
      c.on('error', reject);
      c.on('close', () => resolve());
    });
  }
  const c = process.cpuUsage(c0);
  return { cpu_ms: (c.user + c.system) / 1000 / n, wall_ms: (performance.now() - t0) / n };
}

async function bulkCommit() {
  const home = join(base, 'bulk');
  const local = join(base, 'bulk-files');
  for (let k = 0; k < BULK; k++) {
    mkdirSync(join(local, `d${String(k).padStart(6, '0')}`), { recursive: true });
    writeFileSync(join(local, `d${String(k).padStart(6, '0')}`, 'f'), `file ${k}\n`);
  }
  const store = Store.open(home);
  createRepo(store, 'in');
  let t0 = performance.now();
  const items = [];
  for (let k = 0; k < BULK; k++)
    items.push({
      local: join(local, `d${String(k).padStart(6, '0')}`, 'f'),
      path: `/d${String(k).padStart(6, '0')}/f`,
    });
  await putFiles(store, 'in', 'master', items);
  const putS = (performance.now() - t0) / 1000;
  const head = resolveCommit(store, 'in', 'master');
  t0 = performance.now();
  const listed = listFile(store, head, '/');
  const listMs = performance.now() - t0;
  t0 = performance.now();
  const globbed = globFile(store, head, '/*');
  const globMs = performance.now() - t0;
  if (listed.length !== BULK || globbed.length !== BULK)
    throw new Error(`list ${listed.length}, glob ${globbed.length}`);

  putPipelines(
    store,
    parseSpecs(
      `pipeline: {name: trivial}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {cmd: ["true"]}\n`,
      'bench.yaml',
    ),
  );
  const c0 = process.cpuUsage();
  t0 = performance.now();
  const [job] = await runJobs(store, { log: quiet });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  if (job.state !== 'success' || job.processed !== BULK) throw new Error(`job: ${JSON.stringify(job)}`);
  // one more file: the next job skips BULK datums
  writeFileSync(join(local, 'extra'), 'extra\n');
  await putFiles(store, 'in', 'master', [{ local: join(local, 'extra'), path: '/extra/f' }]);
  t0 = performance.now();
  const [next] = await runJobs(store, { log: quiet });
  const nextMs = performance.now() - t0;
  if (next.skipped !== BULK || next.processed !== 1) throw new Error(`job: ${JSON.stringify(next)}`);
  const meta = metadataBytes(store);
  store.close();
  const spawnBase = await spawnTrueCpu(500);
  rmSync(home, { recursive: true, force: true });
  rmSync(local, { recursive: true, force: true });
  const cpuPerDatum = (cpu.user + cpu.system) / 1000 / BULK;
  return {
    files: BULK,
    put_one_commit_s: round(putS),
    list_file_ms: round(listMs),
    glob_file_ms: round(globMs),
    glob_over_list: round(globMs / listMs),
    job_wall_s: round(wallS),
    engine_cpu_ms_per_datum: round(cpuPerDatum),
    spawn_true_cpu_ms: round(spawnBase.cpu_ms),
    engine_cpu_ms_per_datum_beyond_spawn: round(cpuPerDatum - spawnBase.cpu_ms),
    next_job_one_new_datum_ms: round(nextMs),
    metadata_bytes: meta,
  };
}

const perCommit = await oneFilePerCommit();
process.stdout.write(`\none file per commit (cp pipeline, in-process):\n`);
process.stdout.write(
  `${'N'.padStart(7)} ${'metadata'.padStart(12)} ${'B/commit'.padStart(9)} ${'put ms'.padStart(8)} ${'run ms'.padStart(8)}\n`,
);
for (const r of perCommit) {
  process.stdout.write(
    `${String(r.n).padStart(7)} ${String(r.metadata_bytes).padStart(12)} ${String(r.bytes_per_commit).padStart(9)} ${String(r.put_ms).padStart(8)} ${String(r.run_ms).padStart(8)}\n`,
  );
}
const first = perCommit[0];
const last = perCommit.at(-1)!;
process.stdout.write(
  `run at N=${last.n} / N=${first.n}: ${round(last.run_ms / first.run_ms)}x; put: ${round(last.put_ms / first.put_ms)}x\n`,
);
const bulk = BULK > 0 ? await bulkCommit() : undefined;
if (bulk) {
  process.stdout.write(`\n${BULK} files in one commit:\n`);
  for (const [k, v] of Object.entries(bulk)) process.stdout.write(`  ${k.padEnd(40)} ${v}\n`);
}
process.stdout.write(
  '\n' + JSON.stringify({ fsync: process.env.TESSELLA_FSYNC !== '0', one_file_per_commit: perCommit, bulk }) + '\n',
);
if (!values.dir) rmSync(base, { recursive: true, force: true });
