/**
 * What embed's sessions side by side cost to open (InferenceWorker.grow): the bench's B0 (the EfficientNet-B0
 * fixture, else the tiny CNN) opened as embed opens it on CPU (wrapped for 448 px tiles, `SESSIONS` 2), then grown,
 * each in a fresh process. Printed per checkout: the median CPU (the process's, all threads) and wall of the first
 * session's open and of grow(), and what the grown sessions opened. With --compare DIR (another built checkout) the
 * two alternate, start by start.
 *
 *   npm run build && node --import tsx scripts/bench/grow.ts [--runs 5] [--compare DIR]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { benchModels } from './e2e-store.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    compare: { type: 'string' },
  },
});
const runs = Number(values.runs);
if (!(runs >= 1)) throw new Error(`--runs: '${values.runs}' is not a count of starts such as 5`);
const checkouts = [appDir(), ...(values.compare ? [resolve(values.compare)] : [])];
const models = benchModels(join(tmpdir(), 'tessella-bench-grow'));
const modelDir = join(models.dir, 'embed');

/** One process: open as embed does, grow, print JSON (CPU and wall in ms, and how the sessions grew). */
function script(checkout: string): string {
  const model = JSON.stringify(join(checkout, 'dist', 'shared', 'onnx', 'model.js'));
  return `
    const { openModel } = await import(${model});
    const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
    let c0 = cpu(), t0 = performance.now();
    const m = await openModel(${JSON.stringify(modelDir)}, 'embed',
      { providers: ['cpu'], sessions: 2, intraOpThreads: 0, interOpThreads: 0 }, undefined,
      { conversion: 'onnx', tileSide: 448 });
    const open = { cpu: cpu() - c0, wall: performance.now() - t0 };
    c0 = cpu(); t0 = performance.now();
    const why = await m.worker.grow();
    const grow = { cpu: cpu() - c0, wall: performance.now() - t0 };
    console.log(JSON.stringify({ open, grow, why, sessions: m.worker.sessions, from: m.worker.grownFrom ?? 'the model' }));
    await m.worker.close();
    process.exit(0);`;
}

interface Start {
  open: { cpu: number; wall: number };
  grow: { cpu: number; wall: number };
  why?: string;
  sessions: number;
  from: string;
}

function start(checkout: string): Start {
  if (!existsSync(join(checkout, 'dist', 'shared', 'onnx', 'model.js')))
    throw new Error(`${checkout}/dist is missing: run \`npm run build\` there first`);
  // a file, not -e: the inference worker's thread would inherit --input-type
  const file = join(models.dir, `grow-${checkouts.indexOf(checkout)}.mjs`);
  writeFileSync(file, script(checkout));
  const r = spawnSync(process.execPath, [file], {
    cwd: checkout,
    encoding: 'utf8',
    env: { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' },
  });
  if (r.status !== 0) throw new Error(`a start in ${checkout} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Start;
  if (out.why) throw new Error(`${checkout}: the sessions side by side did not open: ${out.why}`);
  return out;
}

const starts = new Map<string, Start[]>(checkouts.map((c) => [c, []]));
for (let i = 0; i < runs; i++) for (const c of checkouts) starts.get(c)!.push(start(c));

console.log(
  `## embed's sessions side by side: ${models.embed}, 2 sessions, median of ${runs} starts (CPU ms / wall ms)`,
);
console.log('| checkout | first session open | grow() | grown sessions opened |');
console.log('|---|---|---|---|');
for (const [c, s] of starts) {
  const f = (k: 'open' | 'grow') =>
    `${median(s.map((x) => x[k].cpu)).toFixed(0)} / ${median(s.map((x) => x[k].wall)).toFixed(0)}`;
  const from = [...new Set(s.map((x) => x.from))].join(', ');
  console.log(`| ${c} | ${f('open')} | ${f('grow')} | ${from} |`);
}
