/**
 * What embed's model costs to open as a stage process started ahead of its datum opens it (stages/embed/main.ts
 * `ahead`): the bench's B0 (the EfficientNet-B0 fixture, else the tiny CNN) wrapped for 448 px tiles on CPU with the
 * spec's sessions (SESSIONS 0: two here), each start in a fresh process. Printed per checkout, medians of the CPU (the
 * process's, all threads) and wall: the first session's open; the sessions beside it, until they have joined
 * (InferenceWorker.allOpen); the warm-up batch through each (warmUp). Under embed's spec's GLIBC_TUNABLES. With
 * --compare DIR (another built checkout) the two alternate, start by start; a checkout from before the sessions
 * opened together (its InferenceWorker has no allOpen) opens one session there, as its own `ahead` did.
 *
 *   npm run build && node --import tsx scripts/bench/sessions-open.ts [--runs 5] [--compare DIR]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { loadSpecFile } from '../../engine/pps/spec/load.js';
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
// the C library's settings embed's spec gives its processes
const tunables = loadSpecFile(join(appDir(), 'pipelines', 'embed.yaml'))[0].transform.env?.GLIBC_TUNABLES ?? '';
const models = benchModels(join(tmpdir(), 'tessella-bench-sessions-open'));
const modelDir = join(models.dir, 'embed');

/** One process: open as embed's `ahead` does, print JSON (CPU and wall in ms of each step, and the sessions). */
function script(checkout: string): string {
  const dist = (f: string) => JSON.stringify(join(checkout, 'dist', f));
  return `
    const { openModel } = await import(${dist('shared/onnx/model.js')});
    const { embedSessionSettings, readEmbedConfig } = await import(${dist('stages/embed/config.js')});
    const { warmUp } = await import(${dist('stages/embed/embed.js')});
    const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
    let c0 = cpu(), t0 = performance.now();
    const step = () => { const r = { cpu: cpu() - c0, wall: performance.now() - t0 }; c0 = cpu(); t0 = performance.now(); return r; };
    const m = await openModel(${JSON.stringify(modelDir)}, 'embed',
      embedSessionSettings(readEmbedConfig({ EXECUTION_PROVIDERS: 'cpu' })), undefined,
      { conversion: 'onnx', tileSide: 448 });
    const open = step();
    const why = m.worker.allOpen ? await m.worker.allOpen() : undefined;
    const others = step();
    await warmUp(m, 8, 448);
    const warm = step();
    console.log(JSON.stringify({ open, others, warm, why, sessions: m.worker.sessions, from: m.worker.othersFrom ?? '-' }));
    await m.worker.close();
    process.exit(0);`;
}

interface Start {
  open: { cpu: number; wall: number };
  others: { cpu: number; wall: number };
  warm: { cpu: number; wall: number };
  why?: string;
  sessions: number;
  from: string;
}

function start(checkout: string): Start {
  if (!existsSync(join(checkout, 'dist', 'shared', 'onnx', 'model.js')))
    throw new Error(`${checkout}/dist is missing: run \`npm run build\` there first`);
  // a file, not -e: the inference worker's thread would inherit --input-type
  const file = join(models.dir, `open-${checkouts.indexOf(checkout)}.mjs`);
  writeFileSync(file, script(checkout));
  const r = spawnSync(process.execPath, [file], {
    cwd: checkout,
    encoding: 'utf8',
    env: { ...process.env, GLIBC_TUNABLES: tunables },
  });
  if (r.status !== 0) throw new Error(`a start in ${checkout} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Start;
  if (out.why) throw new Error(`${checkout}: the sessions beside the first did not open: ${out.why}`);
  return out;
}

const starts = new Map<string, Start[]>(checkouts.map((c) => [c, []]));
for (let i = 0; i < runs; i++) for (const c of checkouts) starts.get(c)!.push(start(c));

console.log(
  `## embed's model opened as its ahead start opens it: ${models.embed}, median of ${runs} starts (CPU ms / wall ms)`,
);
console.log('| checkout | sessions | first session open | the others joined | warm-up | sum | the others opened |');
console.log('|---|---|---|---|---|---|---|');
for (const [c, s] of starts) {
  const steps = ['open', 'others', 'warm'] as const;
  const f = (get: (x: Start) => { cpu: number; wall: number }) =>
    `${median(s.map((x) => get(x).cpu)).toFixed(0)} / ${median(s.map((x) => get(x).wall)).toFixed(0)}`;
  const sum = (x: Start) => ({
    cpu: steps.reduce((t, k) => t + x[k].cpu, 0),
    wall: steps.reduce((t, k) => t + x[k].wall, 0),
  });
  const from = [...new Set(s.map((x) => x.from))].join(', ');
  const sessions = [...new Set(s.map((x) => x.sessions))].join(', ');
  console.log(
    `| ${c} | ${sessions} | ${f((x) => x.open)} | ${f((x) => x.others)} | ${f((x) => x.warm)} | ${f(sum)} | ${from} |`,
  );
}
