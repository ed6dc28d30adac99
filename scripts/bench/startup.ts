/**
 * What starting a stage process costs before its first datum: each stage's entry (dist/stages/<stage>/main.js) run
 * as the engine runs it under datum batching, its NextDatum port refused so that it ends right after loading its
 * modules. Printed per stage: the median wall and CPU (user + system, from bash's `times`) of --runs starts, and
 * with --compare DIR the same for another built checkout (e.g. one built with tsc alone, whose entries are not
 * bundled by scripts/bundle.mjs), alternated.
 *
 *   npm run build && node --import tsx scripts/bench/startup.ts [--runs 7] [--stages merge,embed] [--compare DIR]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { median } from './stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    stages: { type: 'string' },
    compare: { type: 'string' },
  },
});
const runs = Number(values.runs);
if (!(runs >= 1)) throw new Error(`--runs: '${values.runs}' is not a count of starts such as 7`);
const root = appDir();
const checkouts = [root, ...(values.compare ? [resolve(values.compare)] : [])];
const stagesDir = join(root, 'dist', 'stages');
if (!existsSync(stagesDir)) throw new Error(`${stagesDir} is missing: run \`npm run build\` first`);
const stages =
  values.stages?.split(',') ?? readdirSync(stagesDir).filter((s) => existsSync(join(stagesDir, s, 'main.js')));

/** One start: wall seconds and the CPU seconds of the process and its children. */
function start(checkout: string, stage: string): { wall: number; cpu: number } {
  const entry = join(checkout, 'dist', 'stages', stage, 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build that checkout first`);
  // port 1 refuses at once: the stage has loaded everything it needs for a datum, then fails to ask for one
  const script = `${JSON.stringify(process.execPath)} ${JSON.stringify(entry)} >/dev/null 2>&1; times`;
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script], {
    env: { ...process.env, PPS_WORKER_GRPC_PORT: '1', PPS_PIPELINE_NAME: stage },
    encoding: 'utf8',
  });
  const wall = (performance.now() - t0) / 1000;
  // `times`: the shell's user and system time, then its children's
  const children = r.stdout.trim().split('\n').at(-1) ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (seconds.length !== 2) throw new Error(`bash's times printed '${r.stdout}'`);
  return { wall, cpu: seconds[0] + seconds[1] };
}

const f2 = (x: number) => x.toFixed(2);

console.log(`## stage process start-up, median of ${runs} starts (wall s / CPU s)`);
console.log(`| stage | ${checkouts.map((c) => (c === root ? 'this checkout' : c)).join(' | ')} |`);
console.log(`|---|${checkouts.map(() => '---|').join('')}`);
const totals = checkouts.map(() => 0);
for (const stage of stages) {
  const samples = checkouts.map(() => [] as { wall: number; cpu: number }[]);
  for (let i = 0; i < runs; i++) checkouts.forEach((c, j) => samples[j].push(start(c, stage)));
  const cells = samples.map((s, j) => {
    const cpu = median(s.map((x) => x.cpu));
    totals[j] += cpu;
    return `${f2(median(s.map((x) => x.wall)))} / ${f2(cpu)}`;
  });
  console.log(`| ${stage} | ${cells.join(' | ')} |`);
}
console.log(`| all, CPU s | ${totals.map(f2).join(' | ')} |`);
