/**
 * tessella against the script a skilled user would write instead (issue 23): `tessella run` on a fresh store
 * against ../shared/peer/strip_ai_modern.py (ONNX Runtime `--onnx --loader thread --batch 8`, and its torch
 * default) on the same slide, wall time of the whole command on each side, alternated and rotated (A B C, B C A,
 * C A B) so that load from other work on the machine, and the first run's place, weigh on every side alike. One
 * slide, then a cohort (the same slide under N names; the peer runs slide after slide, as its users do).
 *
 *   npm run build && node --import tsx scripts/bench/vs-peer.ts [--sizes 1,8] [--rounds 2] [--sides tessella,onnx,torch]
 *     [--slide PATH] [--python /tmp/peer-venv/bin/python] [--peer ../shared/peer/strip_ai_modern.py] [--dir DIR]
 *     [--bare-tiles 64] [--bare-rounds 3] [--baseline DIR]
 *
 * The tile stages' specs set GLIBC_TUNABLES (transparent huge pages for malloc; embed's also keeps freed memory); the
 * peer inherits this process's environment (export it to give it the same), the bare models and the stages' loops
 * alone get their stage's spec's (model-loop.ts).
 *
 * --baseline DIR: another built checkout of tessella (e.g. `git worktree add DIR <commit> && (cd DIR && npm run
 * build)`, node_modules linked in), run as the side `baseline` in the same rounds, its store made by its own CLI
 * from its own pipelines/: the before/after of a change, against the peer, in one run.
 *
 * tessella's models are the bench's (e2e-store.ts): a StainNet-shaped identity and the random-weight B0 fixture;
 * the peer builds the same shapes (its own seeded weights: the work per tile is the same, the numbers differ).
 * The store is set up (init, slides, manifest, models, all through the CLI) before the clock starts; the peer's
 * one-off ONNX export is cached before its clock starts too. Printed per run: wall, tiles/s, the ratio
 * tessella/peer of each round's pair; then, from tessella's last run, per stage: job seconds, CPU per tile (the
 * stages' `datum done` log lines), process starts and their start-up, model session opening, and the time no job
 * was running (the engine between jobs); beside it the peer's own per-step seconds; then each model's bare
 * session.run at the stages' batch sizes (e2e-refs.ts) against the stage's own inference rate.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { appDir } from '../../engine/app-dir.js';
import { loadSpecFile } from '../../engine/pps/spec/load.js';
import type { LoopRound } from './model-loop.js';
import { benchModels, benchSlide, jobTimes, setUpStore, type JobTimes } from './e2e-store.js';
import { tessella } from './tessella-cli.js';

const root = appDir();
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,8' },
    rounds: { type: 'string', default: '2' },
    sides: { type: 'string', default: 'tessella,onnx,torch' },
    slide: { type: 'string' },
    python: { type: 'string', default: '/tmp/peer-venv/bin/python' },
    peer: { type: 'string', default: resolve(root, '../shared/peer/strip_ai_modern.py') },
    dir: { type: 'string' },
    'bare-tiles': { type: 'string', default: '64' },
    'bare-rounds': { type: 'string', default: '3' },
    baseline: { type: 'string' },
  },
});
const base = resolve(values.dir ?? join(tmpdir(), 'tessella-vs-peer'));
const PEER_ARGS: Record<string, string[]> = {
  onnx: ['--onnx', '--loader', 'thread', '--batch', '8'],
  torch: [],
};
const PER_TILE_STAGES = ['tile-extract', 'normalize', 'embed', 'histogram'];

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

interface PeerReport {
  tiles: number;
  detect_s: number;
  read_s: number;
  normalize_s: number;
  embed_s: number;
  histogram_s: number;
  total_s: number;
  setup_s: number;
  read_cpu_s: number;
}

interface Run {
  side: string;
  wall: number;
  tiles: number;
  load: string;
  peer?: PeerReport[];
}

/** One peer command on one slide: its wall time and the JSON it prints last. */
function peerOnce(side: string, slide: string): { wall: number; report: PeerReport } {
  const t0 = performance.now();
  const r = spawnSync(values.python!, [values.peer!, slide, ...PEER_ARGS[side]], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`peer ${side} on ${slide}: exit ${r.status}\n${r.stderr.slice(-3000)}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { wall, report: JSON.parse(last) as PeerReport };
}

function runPeer(side: string, slides: string[]): Run {
  const l = load();
  const reports = slides.map((s) => peerOnce(side, s));
  return {
    side,
    wall: reports.reduce((s, r) => s + r.wall, 0),
    tiles: reports.reduce((s, r) => s + r.report.tiles, 0),
    load: l,
    peer: reports.map((r) => r.report),
  };
}

/** `tessella run` on a fresh store, by this checkout or (side 'baseline') by the --baseline one. */
function runTessella(side: string, home: string, slide: string, n: number, models: string): Run {
  const checkout = side === 'baseline' ? resolve(values.baseline!) : root;
  const ids = setUpStore(home, slide, n, models, {}, checkout);
  const l = load();
  const t0 = performance.now();
  tessella(home, ['run'], checkout);
  const wall = (performance.now() - t0) / 1000;
  let tiles = 0;
  for (const id of ids)
    tiles += (JSON.parse(tessella(home, ['get', 'file', `tile-detect@master:/${id}/tiles.json`])).tiles as unknown[])
      .length;
  return { side, wall, tiles, load: l };
}

/** The cohort's slide paths for the peer: the same names tessella's store holds (links to the one slide). */
function cohortPaths(n: number, slidePath: string): string[] {
  const dir = join(base, `slides-${n}`);
  return Array.from({ length: n }, (_, i) => join(dir, `S${String(i).padStart(2, '0')}.tiff`)).map((p) =>
    existsSync(p) ? p : slidePath,
  );
}

interface StageLog {
  cpu: number;
  datums: number;
  starts: number;
  startup: number;
  opens: number;
  open: number;
  /** sessions opened ahead of the first datum (engine/worker/ahead-inputs.ts): off the datum's path, not timed here */
  opensAhead: number;
  /** tiles and seconds of the stage's tile loops (`<stage> done`): the model open and the process start left out */
  loopTiles: number;
  loopSeconds: number;
  /** embed's sessions in the run (`embedded`: inference_tiles_per_s, inference_busy), the last datum's */
  inferenceRate?: number;
  inferenceBusy?: number;
}

function emptyStageLog(): StageLog {
  return { cpu: 0, datums: 0, starts: 0, startup: 0, opens: 0, open: 0, opensAhead: 0, loopTiles: 0, loopSeconds: 0 };
}

/** Every stage's JSON log lines under the store's logs/, summed per stage. */
function stageLogs(home: string): Record<string, StageLog> {
  const out: Record<string, StageLog> = {};
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  for (const file of walk(join(home, 'logs'))) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line);
      } catch {
        continue;
      }
      const s = String(e.component);
      const acc = (out[s] ??= emptyStageLog());
      if (e.event === 'datum done') {
        acc.cpu += Number(e.cpu_s);
        acc.datums++;
      } else if (e.event === 'process started') {
        acc.starts++;
        acc.startup += Number(e.cpu_s);
        acc.cpu += Number(e.cpu_s);
      } else if (e.event === 'model loaded' && e.ahead) {
        acc.opensAhead++;
      } else if (e.event === 'model loaded') {
        acc.opens++;
        acc.open += Number(e.open_s);
      } else if (e.event === 'embedded' && typeof e.inference_tiles_per_s === 'number') {
        acc.inferenceRate = e.inference_tiles_per_s;
        acc.inferenceBusy = Number(e.inference_busy);
      } else if (e.event === `${s} done` && typeof e.tiles_per_s === 'number') {
        acc.loopTiles += Number(e.tiles);
        acc.loopSeconds += Number(e.seconds);
      }
    }
  }
  return out;
}

/** Seconds between the first job's start and the last job's end when no job was running. */
function engineGaps(jobs: JobTimes[]): { gaps: number; span: number } {
  const spans = jobs.map((j) => [j.started, j.finished] as const).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let end = -Infinity;
  let start = -Infinity;
  for (const [s, e] of spans) {
    if (s > end) {
      if (end > start) covered += end - start;
      start = s;
      end = e;
    } else end = Math.max(end, e);
  }
  if (end > start) covered += end - start;
  const span = spans.length ? Math.max(...spans.map((s) => s[1])) - spans[0][0] : 0;
  return { gaps: (span - covered) / 1000, span: span / 1000 };
}

function breakdown(
  home: string,
  tiles: number,
  wall: number,
  peers: Record<string, PeerReport[]>,
  logs: Record<string, StageLog>,
): void {
  const jobs = jobTimes(home);
  const pipelines = [...new Set(jobs.map((j) => j.pipeline))];
  console.log(
    '\ntessella per stage (its last run): job seconds, CPU of the stage processes (start-up included) per tile, ' +
      'process starts (their start-up CPU to the first datum, summed), model sessions opened in a datum (seconds, ' +
      'summed; "+ N ahead": opened before the first datum, beside the stages above)',
  );
  console.log(
    '| stage | job s | CPU s | CPU ms/tile | starts (start-up CPU s) | sessions (s) |\n|---|---|---|---|---|---|',
  );
  for (const p of pipelines) {
    const secs = jobs.filter((j) => j.pipeline === p).reduce((s, j) => s + (j.finished - j.started) / 1000, 0);
    const g = logs[p] ?? emptyStageLog();
    const sessions = [g.opens ? `${g.opens} (${f2(g.open)})` : '', g.opensAhead ? `+ ${g.opensAhead} ahead` : '']
      .filter(Boolean)
      .join(' ');
    const perTile = PER_TILE_STAGES.includes(p) ? f1((g.cpu / tiles) * 1000) : '';
    console.log(`| ${p} | ${f1(secs)} | ${f1(g.cpu)} | ${perTile} | ${g.starts} (${f1(g.startup)}) | ${sessions} |`);
  }
  const { gaps, span } = engineGaps(jobs);
  console.log(
    `engine: ${f1(span)} s from the first job's start to the last job's end, ${f2(gaps)} s of it with no job running; ` +
      `\`tessella run\` ${f1(wall)} s wall (the rest: the CLI's start, planning before the first job, and exit)`,
  );
  for (const [side, reports] of Object.entries(peers)) {
    const sum = (k: keyof PeerReport) => reports.reduce((s, r) => s + Number(r[k]), 0);
    const n = sum('tiles');
    console.log(
      `peer ${side} (its own report, summed over ${reports.length} command(s)): detect ${f2(sum('detect_s'))} s, setup ${f2(sum('setup_s'))}, ` +
        `read wait ${f2(sum('read_s'))} (reader CPU ${f2(sum('read_cpu_s'))}, ${f1((sum('read_cpu_s') / n) * 1000)} ms/tile), ` +
        `normalize ${f2(sum('normalize_s'))} (${f1((sum('normalize_s') / n) * 1000)} ms/tile), embed ${f2(sum('embed_s'))} ` +
        `(${f1((sum('embed_s') / n) * 1000)} ms/tile), histogram ${f2(sum('histogram_s'))} (${f1((sum('histogram_s') / n) * 1000)} ms/tile), ` +
        `total ${f2(sum('total_s'))}; the rest of its wall: Python start and imports`,
    );
  }
}

/**
 * Each model's bare session.run at the stage's batch size against the stage: over its job seconds, over its tile
 * loop in the run (decode, inference, encode or pooling, write: the process start and the model open left out), and
 * its own loop run alone on the same tiles (nothing of the DAG beside it), which tells the stage's own overhead from
 * what the other pipelines' processes take of the cores. The bare plans and the loop alone alternate, round by round,
 * in a process of their own with the stage's spec's GLIBC_TUNABLES (model-loop.ts); the ratios are each round's, the
 * loop against that round's best bare plan. For embed also the sessions' own rate inside the stage (inferenceRate:
 * their tiles over their seconds in session.run), in the run and alone, and how busy they were, and the same sessions
 * fed sums made beforehand (model-loop.ts fedRate), which tells the loop's reading of its tiles from the rest.
 */
function bare(home: string, models: string, tiles: number, logs: Record<string, StageLog>): void {
  const work = join(base, 'bare');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const path = join(work, 'tiles.tfrecord');
  tessella(home, ['get', 'file', 'tile-extract@master:/S00/tiles.tfrecord', '-o', path]);
  const normalized = join(work, 'normalized.tfrecord');
  tessella(home, ['get', 'file', 'normalize@master:/S00/tiles.tfrecord', '-o', normalized]);
  const jobs = jobTimes(home);
  for (const task of ['normalize', 'embed'] as const) {
    const tunables = loadSpecFile(join(root, 'pipelines', `${task}.yaml`))[0].transform.env?.GLIBC_TUNABLES;
    console.log(
      `${task}, bare session.run (spinning) and the stage's loop alone, alternated (GLIBC_TUNABLES=${tunables ?? '(unset)'}):`,
    );
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'scripts', 'bench', 'model-loop.ts'),
        '--task',
        task,
        '--models',
        join(models, task),
        '--tiles',
        task === 'normalize' ? path : normalized,
        '--raw',
        path,
        '--out',
        join(work, 'out'),
        '--bare-tiles',
        values['bare-tiles']!,
        '--rounds',
        values['bare-rounds']!,
      ],
      { encoding: 'utf8', env: { ...process.env, GLIBC_TUNABLES: tunables ?? '' }, maxBuffer: 16 << 20 },
    );
    if (r.status !== 0) throw new Error(`model-loop.ts --task ${task}: exit ${r.status}\n${r.stderr.slice(-3000)}`);
    const rounds = r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LoopRound);
    const best = rounds.map((x) => Math.max(...x.bare.map((b) => b.tilesPerS)));
    rounds.forEach((x, i) => {
      const inference = x.alone.inference
        ? `; its sessions ${f1(x.alone.inference)} tiles/s (${f2(x.alone.inference / best[i])}x), busy ${f2(x.alone.busy)}`
        : '';
      const fed = x.alone.fed
        ? `; its sessions fed sums made beforehand ${f1(x.alone.fed)} tiles/s (${f2(x.alone.fed / best[i])}x)`
        : '';
      console.log(
        `  round ${i + 1}: bare ${x.bare.map((b) => `${f1(b.tilesPerS)} (${b.plan})`).join(', ')} tiles/s; ` +
          `the loop alone ${f1(x.alone.tilesPerS)} tiles/s: ${f2(x.alone.tilesPerS / best[i])}x the best bare${inference}${fed}`,
      );
    });
    const secs = jobs.filter((j) => j.pipeline === task).reduce((s, j) => s + (j.finished - j.started) / 1000, 0);
    const g = logs[task];
    const loop = g?.loopSeconds ? g.loopTiles / g.loopSeconds : 0;
    const ref = median(best);
    const inRun = g?.inferenceRate
      ? `; its sessions ${f1(g.inferenceRate)} tiles/s: ${f2(g.inferenceRate / ref)}x, busy ${f2(g.inferenceBusy ?? 0)}`
      : '';
    const sessionsAlone = rounds.every((x) => x.alone.inference)
      ? `; its sessions alone ${spread(rounds.map((x, i) => x.alone.inference! / best[i]))}`
      : '';
    const fedAlone = rounds.every((x) => x.alone.fed)
      ? `; fed sums made beforehand ${spread(rounds.map((x, i) => x.alone.fed! / best[i]))}`
      : '';
    console.log(
      `${task}: against the best bare plan of each round (median ${f1(ref)} tiles/s): in the run, over its job ` +
        `${f1(tiles / secs)} tiles/s: ${f2(tiles / secs / ref)}x; over its tile loop ${f1(loop)} tiles/s: ${f2(loop / ref)}x${inRun}; ` +
        `its loop alone ${spread(rounds.map((x, i) => x.alone.tilesPerS / best[i]))}${sessionsAlone}${fedAlone}`,
    );
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
/** Ratios as `median (min-max)x`. */
const spread = (xs: number[]) =>
  xs.length === 1 ? `${f2(xs[0])}x` : `${f2(median(xs))}x (${f2(Math.min(...xs))}-${f2(Math.max(...xs))})`;

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist', 'stages')))
    throw new Error('run `npm run build` first: the stages run from dist/');
  const sides = values.sides!.split(',').filter(Boolean);
  if (values.baseline) {
    if (!existsSync(join(resolve(values.baseline), 'dist', 'stages')))
      throw new Error(
        `--baseline ${values.baseline}: not a built tessella checkout (no dist/stages; npm run build there)`,
      );
    if (!sides.includes('baseline')) sides.splice(sides.indexOf('tessella') + 1, 0, 'baseline');
  }
  for (const s of sides)
    if (s !== 'tessella' && s !== 'baseline' && !PEER_ARGS[s])
      throw new Error(`--sides: unknown '${s}'; known: tessella, baseline (with --baseline), onnx, torch`);
  if (sides.some((s) => s !== 'tessella') && !existsSync(values.python!))
    throw new Error(`--python ${values.python}: missing; make it with ../shared/peer/setup-venv.sh ${values.python}`);
  mkdirSync(base, { recursive: true });
  const slide = values.slide ? { path: resolve(values.slide), kind: values.slide } : await benchSlide(base);
  const models = benchModels(join(base, 'models'));
  console.log(
    `slide: ${slide.kind}; tessella's models: StainNet-shaped identity, ${models.embed}; ${availableParallelism()} cores, ` +
      'CPU only (no GPU lent)',
  );
  // tessella's tile stages set GLIBC_TUNABLES in their specs; the peer gets this process's
  console.log(
    `the peer runs with GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? '(unset)'}; ` +
      "tessella's tile stages, and the bare models and the stages' loops alone, with their specs' (pipelines/*.yaml)",
  );
  // the peer's ONNX export is cached on first use: do it before any clock
  if (sides.includes('onnx')) peerOnce('onnx', slide.path);

  const rounds = Number(values.rounds);
  for (const n of values.sizes!.split(',').map(Number)) {
    if (!(n >= 1)) throw new Error(`--sizes: '${values.sizes}' is not a list of slide counts such as 1,8`);
    const home = join(base, `tessella-${n}`);
    const runs: Run[] = [];
    const peers: Record<string, PeerReport[]> = {};
    let last: Run | undefined;
    for (let r = 0; r < rounds; r++) {
      // the side that runs first in a round loses ~5% on a shared host: each round starts one side later
      for (const side of rotated(sides, r)) {
        const tessellaSide = side === 'tessella' || side === 'baseline';
        const run = tessellaSide
          ? runTessella(side, join(base, `${side}-${n}`), slide.path, n, models.dir)
          : runPeer(side, cohortPaths(n, slide.path));
        if (side === 'tessella') {
          // the store is set up on the first tessella run; the peer reads the same names
          last = run;
        } else if (!tessellaSide) peers[side] = run.peer!;
        runs.push(run);
        console.error(`  ${n} slide(s), round ${r + 1}, ${side}: ${f1(run.wall)} s (load ${run.load})`);
      }
    }
    console.log(
      `\n## ${n} slide(s), ${runs[0].tiles} tiles, ${rounds} round(s) alternated, each starting one side later (${sides.join(' ')})`,
    );
    console.log(
      '| round | side | wall s | tiles/s | tessella / side (tiles/s) | load avg |\n|---|---|---|---|---|---|',
    );
    for (let r = 0; r < rounds; r++) {
      const round = runs.slice(r * sides.length, (r + 1) * sides.length);
      const t = round.find((x) => x.side === 'tessella');
      for (const x of round) {
        const ratio = t && x !== t ? `${f2(t.tiles / t.wall / (x.tiles / x.wall))}x` : '';
        console.log(`| ${r + 1} | ${x.side} | ${f1(x.wall)} | ${f1(x.tiles / x.wall)} | ${ratio} | ${x.load} |`);
      }
    }
    if (last) {
      const logs = stageLogs(home);
      breakdown(home, last.tiles, last.wall, peers, logs);
      if (n === 1) bare(home, models.dir, last.tiles, logs);
      else console.log(`(bare session.run: see the 1-slide table; the cohort's per-tile rates are the same models)`);
    }
  }
}

function rotated<T>(list: T[], by: number): T[] {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
