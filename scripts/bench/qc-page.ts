/**
 * The cohort QC page at cohort scale: the size of report.html, of the shards' card scripts and of the pictures, what
 * one slide's card costs in merge-slide (made once per slide), a shard in merge-shard, and the last merge step.
 *
 *   npx tsx scripts/bench/qc-page.ts [--sizes 100,1000] [--overlays DIR] [--dir /work/tmp]
 *
 * Per N: N manifest slides (2 per patient, 3 centers, 1 in 20 failed in tile-detect) with tiny tensors (the page does
 * not read them), tiles.json with a 20-bin histogram, and tile-detect's overlay `qc/tiles.jpg` at its default 2048 px:
 * from `--overlays DIR` (folders `<slide>/qc/tiles.jpg`, e.g. the demo's `demo-out/tile-detect`, cycled) or else
 * synthetic H&E pictures (scripts/synthetic-slide.ts, 4 distinct ones hard-linked).
 */
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { Logger } from '../../shared/log.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { assignedSlideFile, COHORT_FILE, QC_CARDS_DIR as QC_DIR, SHARDS_DIR } from '../../shared/contract/files.js';
import { readMergeConfig } from '../../stages/cohort/merge-config.js';
import { runAssign } from '../../stages/merge-assign/assign.js';
import { runShard } from '../../stages/merge-shard/shard.js';
import { writeQcCard } from '../../stages/merge-slide/qc-card.js';
import { runSlide } from '../../stages/merge-slide/slide.js';
import { slideFolders } from '../../stages/merge-slide/slide-outputs.js';
import { runFinal } from '../../stages/merge/merge.js';
import { tissueHistogram } from '../../stages/tile-detect/tissue-histogram.js';
import { makeSyntheticSlide } from '../synthetic-slide.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '100,1000' }, overlays: { type: 'string' }, dir: { type: 'string' } },
});
const quiet = new Logger('merge', {}, { isTTY: false, write: () => {} });
const root = mkdtempSync(join(values.dir ?? tmpdir(), 'bench-qc-page-'));
const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

async function overlaySources(): Promise<string[]> {
  if (values.overlays) {
    const found = readdirSync(values.overlays)
      .map((s) => join(values.overlays!, s, 'qc', 'tiles.jpg'))
      .filter((f) => existsSync(f));
    if (!found.length) throw new Error(`--overlays ${values.overlays}: no <slide>/qc/tiles.jpg in it`);
    return found;
  }
  const out: string[] = [];
  for (let k = 0; k < 4; k++) {
    const tiff = join(root, `synthetic-${k}.tiff`);
    await makeSyntheticSlide({
      path: tiff,
      width: 2048,
      height: 1536,
      seed: 100 + k,
      tissueFraction: 0.3 + 0.1 * k,
      layout: (['blobs', 'band', 'scattered'] as const)[k % 3],
      pyramid: false,
    });
    const jpg = join(root, `synthetic-${k}.jpg`);
    await sharp(tiff).jpeg({ quality: 90 }).toFile(jpg);
    out.push(jpg);
  }
  return out;
}

const sources = await overlaySources();
const rows: string[] = [];
for (const N of values.sizes!.split(',').map(Number)) {
  const dir = join(root, `n${N}`);
  const d = {
    manifest: join(dir, 'manifest'),
    tileDetect: join(dir, 'tile_detect'),
    embed: join(dir, 'embed'),
    histogram: join(dir, 'histogram'),
  };
  for (const p of Object.values(d)) mkdirSync(p, { recursive: true });
  const lines = ['image_id,patient_id,center_id,label'];
  for (let i = 0; i < N; i++) {
    const id = `S${String(i).padStart(5, '0')}`;
    const p = Math.floor(i / 2);
    lines.push(`${id},P${String(p).padStart(5, '0')},C${p % 3},${p % 2 ? 'tumor' : 'normal'}`);
    const td = join(d.tileDetect, id);
    if (i % 20 === 7) {
      const e = {
        stage: 'tile-detect',
        what: 'the slide cannot be opened',
        why: 'Not a TIFF file, bad magic number 19789 (0x4d4d)',
        hint: 're-export the slide',
      };
      for (const out of [d.tileDetect, d.embed, d.histogram]) writeSlideError(out, id, e);
      continue;
    }
    mkdirSync(join(td, 'qc'), { recursive: true });
    linkSync(sources[i % sources.length], join(td, 'qc', 'tiles.jpg'));
    const fractions = Array.from({ length: 600 }, (_, t) =>
      ((t * 7919 + i * 31) % 1000) / 1000 > 0.6 ? ((t * 104729) % 1000) / 1000 : 0,
    );
    const kept = fractions.filter((f) => f >= 0.9).length;
    writeFileSync(
      join(td, 'tiles.json'),
      JSON.stringify({
        slide: id,
        params: { max_background_fraction: 0.1 },
        counts: { grid: 600, kept, dropped: { background: 600 - kept, max_tiles: 0 } },
        tissue_histogram: tissueHistogram(fractions),
        tiles: [],
      }),
    );
    const n = 2;
    writeSafetensors(
      join(d.embed, id, 'embeddings.safetensors'),
      {
        avg: { dtype: 'F32', shape: [n, 8], data: new Float32Array(16) },
        max: { dtype: 'F32', shape: [n, 8], data: new Float32Array(16) },
        loc: { dtype: 'I32', shape: [n, 2], data: new Int32Array(4) },
      },
      { model_sha256: 'ab'.repeat(32) },
    );
    writeSafetensors(
      join(d.histogram, id, 'histogram.safetensors'),
      {
        sum: { dtype: 'F64', shape: [16, 16, 16], data: new Float64Array(4096) },
        count: { dtype: 'I64', shape: [1], data: new BigInt64Array([BigInt(n)]) },
      },
      {},
    );
  }
  writeFileSync(join(d.manifest, 'manifest.csv'), lines.join('\n') + '\n');

  const config = readMergeConfig({ EXPECTED_PATIENTS: String(N / 2), PATIENTS_PER_SHARD: '4' });
  const assignOut = join(dir, 'merge-assign');
  const slideOut = join(dir, 'merge-slide');
  const shardOut = join(dir, 'merge-shard');
  const out = join(dir, 'merge');
  const assigned = runAssign(d.manifest, assignOut, config);
  let cardMs = 0;
  for (const s of assigned.slides) {
    const td = join(d.tileDetect, s.slide);
    const { path } = runSlide({
      slideId: s.slide,
      assignFile: join(assignOut, assignedSlideFile(s.slide)),
      embed: join(d.embed, s.slide),
      histogram: join(d.histogram, s.slide),
      tileDetect: td,
      outDir: slideOut,
    });
    const t0 = performance.now();
    await writeQcCard(s.slide, td, join(slideOut, path));
    cardMs += performance.now() - t0;
  }
  mkdirSync(shardOut, { recursive: true });
  const shardsRoot = join(slideOut, SHARDS_DIR);
  const t1 = performance.now();
  let shards = 0;
  for (const set of slideFolders(shardsRoot))
    for (const shard of slideFolders(join(shardsRoot, set))) {
      await runShard(join(shardsRoot, set, shard), shardOut);
      shards++;
    }
  const shardMs = (performance.now() - t1) / shards;
  const final = (to: string) => {
    const t0 = performance.now();
    runFinal({ cohortFile: join(assignOut, COHORT_FILE), shardRepo: shardOut, outDir: to, link: true, log: quiet });
    return performance.now() - t0;
  };
  // The last step twice (the first warms the page cache).
  final(join(dir, 'warm'));
  const lastMs = final(out);
  const html = statSync(join(out, 'report.html')).size;
  const qc = readdirSync(join(shardOut, QC_DIR));
  const size = (f: string) => statSync(join(shardOut, QC_DIR, f)).size;
  const pics = qc.filter((f) => f.endsWith('.jpg')).map(size);
  const scripts = qc.filter((f) => f.endsWith('.js')).map(size);
  const picTotal = pics.reduce((a, b) => a + b, 0);
  const scriptTotal = scripts.reduce((a, b) => a + b, 0);
  const line =
    `N=${N} slides: report.html ${mb(html)} (${kb(html / N)} per slide) + ${scripts.length} shard card scripts ${mb(scriptTotal)} ` +
    `(${kb(scriptTotal / N)} per slide); ${pics.length} card pictures ${mb(picTotal)} ` +
    `(mean ${kb(picTotal / pics.length)}, max ${kb(Math.max(...pics))}); card per slide in merge-slide ${(cardMs / assigned.slides.length).toFixed(1)} ms; ` +
    `merge-shard ${shardMs.toFixed(1)} ms per shard (records and cards); last step ${lastMs.toFixed(0)} ms`;
  console.log(line);
  rows.push(line);
  rmSync(dir, { recursive: true, force: true });
}
rmSync(root, { recursive: true, force: true });
console.log('\n' + rows.join('\n'));
