/**
 * Physical tiles (TILE_UM / TARGET_MPP) against today's 448 px level-0 tiles: tile-extract's seconds and CPU per
 * output tile, each stage run as its container would run it (`node dist/stages/...`), on the same tissue:
 *   20x       CMU-1's region replicated (0.499 um/px), default tile-detect: 448 px read at level 0
 *   40x same  that tissue upsampled 2x (0.2495 um/px, a pyramid with a 2x level), TARGET_MPP 0.499: 448 px read
 *             from level 1, no resize
 *   40x 0.6   TARGET_MPP 0.6: 538 px read from level 1, resized to 448 (lanczos3)
 *   40x flat  the 40x tissue without a pyramid, TARGET_MPP 0.499: 896 px read at level 0, resized to 448
 * Runs alternate (--rounds), best of each, so load from other work weighs on all alike.
 *
 *   npm run build && node --import tsx scripts/bench/physical-tiles.ts [--replicate 3] [--rounds 3] [--dir DIR]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { appDir } from '../../engine/app-dir.js';
import { openSlide } from '../../shared/slide/index.js';

const root = appDir();
const { values } = parseArgs({
  options: {
    replicate: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string', default: join(tmpdir(), 'tessella-physical-bench') },
  },
});
const dir = values.dir;
mkdirSync(dir, { recursive: true });
const cmu = join(root, '..', 'shared', 'fixtures', 'slides', 'cmu-1-small-region.svs');
if (!existsSync(cmu)) throw new Error(`${cmu} is missing (../shared/fixtures)`);

/** CMU-1's region replicated n x n, at 20x and upsampled to 40x (pyramid and flat), with its resolution tags. */
async function makeSlides(n: number): Promise<Record<'x20' | 'x40' | 'x40flat', string>> {
  const paths = { x20: join(dir, 'x20.tiff'), x40: join(dir, 'x40.tiff'), x40flat: join(dir, 'x40-flat.tiff') };
  if (Object.values(paths).every(existsSync)) return paths;
  const s = await openSlide(cmu);
  const { width, height } = s.levels[0];
  const rgb = await s.readRegion(0, 0, 0, width, height);
  await s.close();
  const raw = { raw: { width, height, channels: 3 as const } };
  const tile = (mpp: number, pyramid: boolean) =>
    ({
      compression: 'jpeg',
      quality: 92,
      tile: true,
      tileWidth: 256,
      tileHeight: 256,
      pyramid,
      xres: 1000 / mpp,
      yres: 1000 / mpp,
      resolutionUnit: 'cm',
    }) as const;
  const replicated = await sharp(rgb, raw)
    .extend({ right: width * (n - 1), bottom: height * (n - 1), extendWith: 'repeat' })
    .raw()
    .toBuffer();
  const big = { raw: { width: width * n, height: height * n, channels: 3 as const } };
  await sharp(replicated, big).tiff(tile(0.499, true)).toFile(paths.x20);
  const up = await sharp(replicated, big)
    .resize(width * n * 2, height * n * 2, { kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const upRaw = { raw: { width: width * n * 2, height: height * n * 2, channels: 3 as const } };
  await sharp(up, upRaw).tiff(tile(0.2495, true)).toFile(paths.x40);
  await sharp(up, upRaw).tiff(tile(0.2495, false)).toFile(paths.x40flat);
  return paths;
}

function stage(name: string, env: Record<string, string>): { seconds: number; cpuS: number } {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', `time -p node ${join(root, 'dist', 'stages', name, 'main.js')}`], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr.slice(-2000)}`);
  const field = (k: string) => Number(new RegExp(`^${k} ([\\d.]+)`, 'm').exec(r.stderr)?.[1] ?? Number.NaN);
  return { seconds, cpuS: field('user') + field('sys') };
}

interface Case {
  label: string;
  slide: string;
  env: Record<string, string>;
}

/** tile-detect once (its plan), then tile-extract timed; returns per output tile. */
function runCase(c: Case, key: string): { tiles: number; msPerTile: number; cpuMsPerTile: number; read: string } {
  const pfs = join(dir, `run-${key}`);
  rmSync(pfs, { recursive: true, force: true });
  const slideDir = join(pfs, 'slides', 'S');
  mkdirSync(slideDir, { recursive: true });
  symlinkSync(c.slide, join(slideDir, 'slide.tiff'));
  // each stage's /pfs/out is $PFS_ROOT/out
  const detectOut = join(pfs, 'detect', 'out');
  mkdirSync(detectOut, { recursive: true });
  stage('tile-detect', { PFS_ROOT: join(pfs, 'detect'), slides: slideDir, ...c.env });
  const tilesJson = JSON.parse(readFileSync(join(detectOut, 'S', 'tiles.json'), 'utf8'));
  mkdirSync(join(pfs, 'extract', 'out'), { recursive: true });
  const t = stage('tile-extract', {
    PFS_ROOT: join(pfs, 'extract'),
    slides: slideDir,
    tile_detect: join(detectOut, 'S'),
  });
  const tiles = tilesJson.tiles.length;
  const p = tilesJson.physical;
  const read = p ? `level ${p.read_level}, ${p.read_px} px -> ${p.output_px}` : 'level 0, 448 px';
  return { tiles, msPerTile: (t.seconds * 1000) / tiles, cpuMsPerTile: (t.cpuS * 1000) / tiles, read };
}

const slides = await makeSlides(Number(values.replicate));
// a looser tissue rule than the default, so the small region gives enough tiles to time
const rule = { MAX_BACKGROUND_FRACTION: '0.5' };
const cases: Case[] = [
  { label: '20x, default (today)', slide: slides.x20, env: rule },
  { label: '40x, TARGET_MPP 0.499', slide: slides.x40, env: { ...rule, TARGET_MPP: '0.499' } },
  { label: '40x, TARGET_MPP 0.6', slide: slides.x40, env: { ...rule, TARGET_MPP: '0.6' } },
  { label: '40x without pyramid, TARGET_MPP 0.499', slide: slides.x40flat, env: { ...rule, TARGET_MPP: '0.499' } },
];
const best = cases.map(() => ({ tiles: 0, msPerTile: Infinity, cpuMsPerTile: Infinity, read: '' }));
for (let r = 0; r < Number(values.rounds); r++)
  cases.forEach((c, i) => {
    const m = runCase(c, String(i));
    best[i] = {
      ...m,
      msPerTile: Math.min(best[i].msPerTile, m.msPerTile),
      cpuMsPerTile: Math.min(best[i].cpuMsPerTile, m.cpuMsPerTile),
    };
  });
console.log(`tile-extract per output tile (best of ${values.rounds}; whole process, start-up included)`);
console.log('| slide, tiles | read | tiles | ms/tile | CPU ms/tile | vs today |');
console.log('|---|---|---|---|---|---|');
for (const [i, c] of cases.entries()) {
  const b = best[i];
  const ratio = (b.msPerTile / best[0].msPerTile).toFixed(2);
  console.log(
    `| ${c.label} | ${b.read} | ${b.tiles} | ${b.msPerTile.toFixed(2)} | ${b.cpuMsPerTile.toFixed(2)} | ${ratio}x |`,
  );
}
