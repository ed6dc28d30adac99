/**
 * Benchmarks of the slide stages on synthetic slides (pyramid, 40% tissue), printing:
 *  - tile-detect (open, overview, rule, QC pictures, files) against reading the chosen pyramid level alone
 *    (same blocks, same reads in flight, no resampling): target <= 1.2x;
 *  - tile-extract tiles/s (read, JPEG q95, TFRecord) against raw openslide_read_region of the same tiles with 4
 *    in flight and no encode: target >= 0.7x;
 *  - peak RSS of each stage's main.ts as a child process, per slide size: target flat, < 1.5 GB;
 *  - with --engine: a 60k x 60k slide through both stages in the embedded engine (tessella init/add/run).
 *
 *   node --import tsx scripts/bench/slides.ts [--sizes 2000,30000,100000] [--dir DIR] [--keep] [--engine] [--engine-size 60000]
 *     [--detect-only] (tile-detect only: skips tile-extract) [--repeat 5] (tile-detect vs level runs, medians)
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeSyntheticSlide } from '../synthetic-slide.js';
import { readTilesJson } from '../../shared/contract/index.js';
import { loadOpenSlide, openSlide, planOverview } from '../../shared/slide/index.js';
import { TileRecordWriter } from '../../shared/tile-record.js';
import { DetectConfigSchema } from '../../stages/tile-detect/config.js';
import { detectTilesStreamed } from '../../stages/tile-detect/detect.js';
import { makeQcPictures } from '../../stages/tile-detect/qc.js';
import { extractTiles } from '../../stages/tile-extract/extract.js';
import { median } from './stats.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '2000,30000,100000' },
    dir: { type: 'string', default: join(tmpdir(), 'tessella-bench-slides') },
    keep: { type: 'boolean', default: false },
    engine: { type: 'boolean', default: false },
    'engine-size': { type: 'string', default: '60000' },
    'throughput-tiles': { type: 'string', default: '1500' },
    'detect-only': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '5' },
  },
});
const work = resolve(values.dir);
mkdirSync(work, { recursive: true });
const say = (s: string) => process.stdout.write(s + '\n');
const now = () => performance.now();
const secs = (ms: number) => (ms / 1000).toFixed(2);

async function slideOf(size: number): Promise<string> {
  const path = join(work, `synthetic-${size}.tiff`);
  if (!existsSync(path)) {
    const s = await makeSyntheticSlide({ path, width: size, height: size, seed: 1, tissueFraction: 0.4 });
    say(`made ${path}: ${s.levels.length} levels, ${(s.bytes / 1e6).toFixed(1)} MB, ${s.seconds} s`);
  }
  return path;
}

/** Wall and CPU (all threads of this process: readers, libvips) milliseconds of a run. */
interface Cost {
  wall: number;
  cpu: number;
}
async function measured(run: () => Promise<unknown>): Promise<Cost> {
  const c = process.cpuUsage();
  const t = now();
  await run();
  const u = process.cpuUsage(c);
  return { wall: now() - t, cpu: (u.user + u.system) / 1000 };
}

/** Open the slide and read the chosen level in the blocks the overview uses, 4 in flight, nothing else. */
async function readLevelAlone(path: string, downsample: number): Promise<number> {
  const t = now();
  const slide = await openSlide(path, { reader: 'openslide' });
  const { blocks, geometry } = planOverview(slide, downsample);
  let next = 0;
  const worker = async () => {
    while (next < blocks.length) {
      const b = blocks[next++];
      await slide.readRegion(geometry.level, b.x0, b.y0, b.w, b.h);
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  await slide.close();
  return now() - t;
}

/** tile-detect's work in process, as main.ts does it: open, overview, rule, QC pictures (encoded), tiles.json text. */
async function detectInProcess(path: string): Promise<number> {
  const t = now();
  const slide = await openSlide(path);
  const config = DetectConfigSchema.parse({});
  const { detection, thumbnail } = await detectTilesStreamed(slide, 'bench', config);
  await makeQcPictures(detection, thumbnail);
  JSON.stringify(detection.tilesJson);
  await slide.close();
  return now() - t;
}

/** Raw openslide_read_region of the tiles, 4 in flight, no conversion, no encode. */
async function rawReads(path: string, tiles: { x: number; y: number }[]): Promise<number> {
  const lib = loadOpenSlide();
  const osr = lib.open(path);
  const bufs = [0, 1, 2, 3].map(() => Buffer.allocUnsafe(448 * 448 * 4));
  let next = 0;
  const t = now();
  await Promise.all(
    bufs.map(async (buf) => {
      while (next < tiles.length) {
        const { x, y } = tiles[next++];
        await lib.readRegionAsync(osr, buf, x, y, 0, 448, 448);
      }
    }),
  );
  const ms = now() - t;
  lib.close(osr);
  return tiles.length / (ms / 1000);
}

/** tile-extract's work in process: read, encode JPEG q95, write the TFRecord. */
async function extractInProcess(
  path: string,
  tiles: ReturnType<typeof readTilesJson>['tiles'],
  out: string,
): Promise<number> {
  const slide = await openSlide(path);
  const writer = await TileRecordWriter.open(out);
  const t = now();
  for await (const e of extractTiles(slide, tiles, { tileSize: 448, format: 'jpeg', quality: 95, inFlight: 4 })) {
    await writer.write({ slide: 'bench', image: e.image, locX: e.locX, locY: e.locY });
  }
  await writer.close();
  const ms = now() - t;
  await slide.close();
  return tiles.length / (ms / 1000);
}

/** Run a stage's main.ts as the engine would, reporting its wall time and peak RSS (MB). */
function runStageMeasured(stage: string, env: Record<string, string>): Promise<{ seconds: number; rssMb: number }> {
  const main = new URL(`../../stages/${stage}/main.ts`, import.meta.url).href;
  const code = `process.on('exit', () => process.stderr.write('MAXRSS_KB ' + process.resourceUsage().maxRSS + '\\n')); await import(${JSON.stringify(main)});`;
  const t = now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: root,
      env: { ...process.env, TESSELLA_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      const m = /MAXRSS_KB (\d+)/.exec(stderr);
      if (status !== 0 || !m) reject(new Error(`${stage} exited ${status}: ${stderr.slice(-2000)}`));
      else resolvePromise({ seconds: (now() - t) / 1000, rssMb: Number(m[1]) / 1024 });
    });
  });
}

async function benchSize(size: number): Promise<void> {
  const path = await slideOf(size);
  say(`\n== ${size} x ${size} (pyramid, 40% tissue) ==`);
  // Warm the page cache and the code, then alternate (this machine may be shared): medians of wall and of CPU
  // time (CPU is steadier when other work competes for the cores).
  await readLevelAlone(path, 16);
  await detectInProcess(path);
  const level: Cost[] = [];
  const detect: Cost[] = [];
  for (let r = 0; r < Number(values.repeat); r++) {
    level.push(await measured(() => readLevelAlone(path, 16)));
    detect.push(await measured(() => detectInProcess(path)));
  }
  const [lw, dw] = [median(level.map((c) => c.wall)), median(detect.map((c) => c.wall))];
  const [lc, dc] = [median(level.map((c) => c.cpu)), median(detect.map((c) => c.cpu))];
  say(
    `tile-detect in process: ${secs(dw)} s (CPU ${secs(dc)} s); reading the chosen level alone: ${secs(lw)} s (CPU ${secs(lc)} s); ` +
      `ratio ${(dw / lw).toFixed(2)}x wall, ${(dc / lc).toFixed(2)}x CPU (target <= 1.2x; medians of ${level.length})`,
  );

  const pfs = join(work, `pfs-${size}`);
  rmSync(pfs, { recursive: true, force: true });
  const slideDir = join(pfs, 'slides', `s${size}`);
  mkdirSync(slideDir, { recursive: true });
  symlinkSync(path, join(slideDir, `s${size}.tiff`));
  const det = await runStageMeasured('tile-detect', { PFS_ROOT: pfs, slides: slideDir });
  const tilesJson = readTilesJson(join(pfs, 'out', `s${size}`, 'tiles.json'));
  say(
    `tile-detect main.ts: ${det.seconds.toFixed(2)} s wall (with node/tsx start-up), peak RSS ${det.rssMb.toFixed(0)} MB, ${tilesJson.counts.kept} of ${tilesJson.counts.grid} tiles kept`,
  );
  if (values['detect-only']) {
    rmSync(pfs, { recursive: true, force: true });
    return;
  }

  const sample = tilesJson.tiles.slice(0, Number(values['throughput-tiles']));
  await rawReads(path, sample.slice(0, 100)); // warm
  // Interleaved, best of two: this machine may be shared.
  const raws: number[] = [];
  const stages: number[] = [];
  for (let round = 0; round < 2; round++) {
    raws.push(await rawReads(path, sample));
    stages.push(await extractInProcess(path, sample, join(work, `bench-${size}.tfrecord`)));
  }
  rmSync(join(work, `bench-${size}.tfrecord`), { force: true });
  const [raw, stage] = [Math.max(...raws), Math.max(...stages)];
  say(
    `tile-extract in process: ${stage.toFixed(1)} tiles/s; raw read_region, 4 in flight, no encode: ${raw.toFixed(1)} tiles/s; ratio ${(stage / raw).toFixed(2)} (target >= 0.7) over ${sample.length} tiles`,
  );

  const xroot = join(pfs, 'x');
  const ext = await runStageMeasured('tile-extract', {
    PFS_ROOT: xroot,
    slides: slideDir,
    tile_detect: join(pfs, 'out', `s${size}`),
  });
  say(
    `tile-extract main.ts: ${tilesJson.tiles.length} tiles in ${ext.seconds.toFixed(1)} s wall (${(tilesJson.tiles.length / ext.seconds).toFixed(1)} tiles/s), peak RSS ${ext.rssMb.toFixed(0)} MB`,
  );
  rmSync(pfs, { recursive: true, force: true });
}

/** A slide through both stages in the embedded engine, as a user would. */
async function benchEngine(size: number): Promise<void> {
  say(`\n== engine: ${size} x ${size} through tile-detect and tile-extract ==`);
  const path = await slideOf(size);
  const home = join(work, 'engine-home');
  const specs = join(work, 'engine-pipelines');
  const slides = join(work, 'engine-slides');
  for (const d of [home, specs, slides]) rmSync(d, { recursive: true, force: true });
  mkdirSync(specs, { recursive: true });
  mkdirSync(slides, { recursive: true });
  // manifest-mpp too: tile-detect joins its /mpp (the manifest's resolutions); with no manifest it never runs.
  for (const f of ['manifest-mpp.yaml', 'tile-detect.yaml', 'tile-extract.yaml'])
    copyFileSync(join(root, 'pipelines', f), join(specs, f));
  symlinkSync(path, join(slides, `synthetic${size}.tiff`));
  const env = { ...process.env, TESSELLA_HOME: home };
  const tessella = (...args: string[]) =>
    execFileSync(process.execPath, [join(root, 'bin', 'tessella.js'), ...args], {
      cwd: root,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  say('building dist/ (the engine runs node dist/stages/<name>/main.js)');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  tessella('init', '--pipelines', specs);
  let t = now();
  tessella('add', 'slides', '-L', slides);
  say(`add slides: ${secs(now() - t)} s`);
  t = now();
  process.stdout.write(tessella('run'));
  say(`tessella run: ${secs(now() - t)} s`);
  process.stdout.write(tessella('list', 'file', `tile-extract@master:/synthetic${size}/`));
  process.stdout.write(tessella('list', 'job'));
  const tiles = tessella('get', 'file', `tile-detect@master:/synthetic${size}/tiles.json`);
  const parsed = JSON.parse(tiles) as { counts: { kept: number; grid: number } };
  say(`tile-detect kept ${parsed.counts.kept} of ${parsed.counts.grid} tiles`);
  if (!values.keep) rmSync(home, { recursive: true, force: true });
}

for (const size of values.sizes.split(',').filter(Boolean).map(Number)) await benchSize(size);
if (values.engine) await benchEngine(Number(values['engine-size']));
if (!values.keep) say(`\n(synthetic slides are kept in ${work} for the next run; delete it when done)`);
