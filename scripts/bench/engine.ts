/**
 * Engine benchmarks:
 *   1. `put file` of a large file (default 1 GiB) against `cp` of the same file: the ratio.
 *   2. The engine's own overhead per datum over N trivial datums (default 1000, cmd `true`): wall time per datum
 *      minus the cost of spawning `true` itself; and the cost of a skipped datum (a job after one more file).
 *
 *   node --import tsx scripts/bench/engine.ts [--size-mb 1024] [--datums 1000] [--dir /tmp/x]
 * Prints one JSON object; ratios are measured in the same run on the same file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Logger } from '../../shared/log.js';
import { putPipelines } from '../../engine/pps/pipelines.js';
import { runJobs } from '../../engine/pps/scheduler.js';
import { createRepo } from '../../engine/pfs/repos.js';
import { putFiles } from '../../engine/pfs/put-files.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { Store } from '../../engine/store/store.js';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    datums: { type: 'string', default: '1000' },
    dir: { type: 'string' },
  },
});
const sizeMb = Number(values['size-mb']);
const nDatums = Number(values.datums);
const base = values.dir ? values.dir : mkdtempSync(join(tmpdir(), 'tessella-bench-'));
mkdirSync(base, { recursive: true });
const quiet = new Logger('bench', {}, { isTTY: false, write: () => undefined });

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

async function benchPut() {
  const src = join(base, 'big.bin');
  const fd = openSync(src, 'w');
  const block = randomBytes(16 * 1024 * 1024);
  for (let written = 0; written < sizeMb * 1024 * 1024; written += block.length) {
    block.writeUInt32LE(written >>> 0, 0); // every block distinct
    writeSync(fd, block, 0, Math.min(block.length, sizeMb * 1024 * 1024 - written));
  }
  closeSync(fd);
  const cpTimes: number[] = [];
  const putTimes: number[] = [];
  for (let i = 0; i < 2; i++) {
    const dst = join(base, `copy-${i}.bin`);
    let t0 = performance.now();
    const r = spawnSync('cp', [src, dst]);
    if (r.status !== 0) throw new Error(`cp failed: ${r.stderr}`);
    spawnSync('sync');
    cpTimes.push(seconds(t0));
    rmSync(dst);
    const home = join(base, `put-home-${i}`);
    const store = Store.open(home);
    createRepo(store, 'big');
    t0 = performance.now();
    await putFiles(store, 'big', 'master', [{ local: src, path: '/big.bin' }]);
    putTimes.push(seconds(t0));
    store.close();
    rmSync(home, { recursive: true, force: true });
  }
  rmSync(src);
  const cp = Math.min(...cpTimes);
  const put = Math.min(...putTimes);
  return {
    size_mb: sizeMb,
    cp_s: round(cp),
    put_file_s: round(put),
    ratio_put_over_cp: round(put / cp),
    put_mb_per_s: round(sizeMb / put),
  };
}

async function spawnBaseline(n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const c = spawn('true', [], { stdio: 'ignore', detached: true });
      c.on('error', reject);
      c.on('close', () => resolve());
    });
  }
  return seconds(t0) / n;
}

async function benchDatums() {
  const home = join(base, 'datum-home');
  const local = join(base, 'datum-files');
  mkdirSync(local, { recursive: true });
  const items = [];
  for (let i = 0; i < nDatums; i++) {
    const p = join(local, `f${i}`);
    writeFileSync(p, `file ${i}\n`);
    items.push({ local: p, path: `/f${i}` });
  }
  const store = Store.open(home);
  createRepo(store, 'in');
  await putFiles(store, 'in', 'master', items);
  putPipelines(
    store,
    parseSpecs(
      `pipeline: {name: trivial}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {cmd: ["true"]}\n`,
      'bench.yaml',
    ),
  );
  let t0 = performance.now();
  const [first] = await runJobs(store, { log: quiet });
  const runS = seconds(t0);
  if (first.state !== 'success' || first.processed !== nDatums) throw new Error(`job: ${JSON.stringify(first)}`);

  writeFileSync(join(local, 'extra'), 'extra\n');
  await putFiles(store, 'in', 'master', [{ local: join(local, 'extra'), path: '/extra' }]);
  t0 = performance.now();
  const [second] = await runJobs(store, { log: quiet });
  const skipS = seconds(t0);
  if (second.skipped !== nDatums || second.processed !== 1) throw new Error(`job: ${JSON.stringify(second)}`);
  store.close();

  const spawnS = await spawnBaseline(Math.min(nDatums, 300));
  const perDatum = runS / nDatums;
  return {
    datums: nDatums,
    job_s: round(runS),
    ms_per_datum: round(perDatum * 1000),
    ms_spawn_true_alone: round(spawnS * 1000),
    engine_overhead_ms_per_datum: round((perDatum - spawnS) * 1000),
    incremental_job_s: round(skipS),
    ms_per_skipped_datum: round(((skipS - perDatum) / nDatums) * 1000),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const result = {
  fsync: process.env.TESSELLA_FSYNC !== '0',
  // datums first: the 1 GiB put leaves the page cache writing back, which slows every file operation after it
  datums: await benchDatums(),
  put_file: await benchPut(),
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
if (!values.dir) rmSync(base, { recursive: true, force: true });
