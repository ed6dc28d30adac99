/**
 * Benchmark: merge's dataset write throughput against writing the same bytes raw, and peak RSS.
 *
 *   npx tsx scripts/bench/merge.ts [--patients 300] [--tiles 2000] [--dim 1280] [--gzip] [--dir /tmp/...]
 *
 * Inputs: one slide per patient, embeddings [tiles, dim] avg + max; to keep the inputs small on disk, the slide
 * folders hard-link a few distinct files (merge reads each slide's files separately, as it would distinct ones).
 * Measured: runMerge end to end (survey, splits, load + encode + frame + write every record, dataset.json, report),
 * against a raw write of the same bytes into as many files (record-sized writeSync calls from one buffer), in two
 * rounds of raw then merge, since page-cache state and disk writeback weigh heavily on writes of this size.
 */
import { closeSync, linkSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';
import { Logger } from '../../shared/log.js';
import {
  EMBEDDINGS_FILE,
  embeddingTensors,
  HISTOGRAM_BINS,
  HISTOGRAM_FILE,
  histogramTensors,
} from '../../shared/contract/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { readMergeConfig } from '../../stages/cohort/merge-config.js';
import { runMerge } from '../../test/helpers/run-merge.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '300' },
    tiles: { type: 'string', default: '2000' },
    dim: { type: 'string', default: '1280' },
    distinct: { type: 'string', default: '4' },
    gzip: { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});
const P = Number(values.patients);
const T = Number(values.tiles);
const D = Number(values.dim);
const K = Math.min(P, Number(values.distinct));

const root = mkdtempSync(join(values.dir ?? tmpdir(), 'bench-merge-'));
const gib = (b: number) => (b / 2 ** 30).toFixed(2);
const rssMb = () => Math.round(process.memoryUsage().rss / 2 ** 20);
let peakSampled = 0;
const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, rssMb())), 50);

try {
  // ---- inputs -------------------------------------------------------------------------------------------
  const dirs = {
    manifest: join(root, 'manifest'),
    embed: join(root, 'embed'),
    histogram: join(root, 'histogram'),
    out: join(root, 'out'),
    raw: join(root, 'raw'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const sources: { emb: string; hist: string }[] = [];
  for (let k = 0; k < K; k++) {
    const avg = new Float32Array(T * D);
    const max = new Float32Array(T * D);
    for (let i = 0; i < avg.length; i++) {
      avg[i] = Math.sin(i * 0.001 + k);
      max[i] = avg[i] + 1;
    }
    const loc = new Int32Array(T * 2).map((_, i) => 224 + 448 * (i >> 1));
    const sum = new Float64Array(HISTOGRAM_BINS);
    sum[k] = T;
    const emb = join(root, `src-${k}.emb.safetensors`);
    const hist = join(root, `src-${k}.hist.safetensors`);
    writeSafetensors(emb, embeddingTensors({ n: T, dim: D, avg, max, loc }), { model_sha256: 'bench' });
    writeSafetensors(hist, histogramTensors(sum, T));
    sources.push({ emb, hist });
  }
  const rows = ['image_id,patient_id,center_id,label'];
  for (let p = 0; p < P; p++) {
    const slide = `slide-${String(p).padStart(4, '0')}`;
    rows.push(`${slide},patient-${String(p).padStart(4, '0')},center-${p % 5},${p % 3 ? 'tumor' : 'normal'}`);
    mkdirSync(join(dirs.embed, slide));
    mkdirSync(join(dirs.histogram, slide));
    linkSync(sources[p % K].emb, join(dirs.embed, slide, EMBEDDINGS_FILE));
    linkSync(sources[p % K].hist, join(dirs.histogram, slide, HISTOGRAM_FILE));
  }
  writeFileSync(join(dirs.manifest, 'manifest.csv'), rows.join('\n') + '\n');
  const baseRss = rssMb();
  peakSampled = baseRss;
  console.log(
    `cohort: ${P} patients x ${T} tiles x ${D} floats (avg + max), ${K} distinct input files, ${values.gzip ? 'GZIP' : 'uncompressed'}; RSS before merge ${baseRss} MB`,
  );

  // Output sizes come from a plan-only pass: the raw writes need them before merge runs (raw goes first and last,
  // so neither side alone meets a cold or a full page cache).
  const silent = new Logger('merge', {}, { isTTY: false, write: () => {} });
  const config = readMergeConfig({ COMPRESSION: values.gzip ? 'gzip' : 'none' });
  const run = () =>
    runMerge({
      manifestDir: dirs.manifest,
      dirs: { embed: dirs.embed, histogram: dirs.histogram },
      outDir: dirs.out,
      config,
      log: silent,
    });

  const timed = async (fn: () => unknown) => {
    execSync('sync'); // flush the previous phase's dirty pages so each phase starts from the same writeback state
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const cpu = process.cpuUsage(cpu0);
    return { wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
  };
  let shards: { bytes: number; records: number }[] = [];
  const writeRaw = () => {
    const bytes = shards.reduce((a, s) => a + s.bytes, 0);
    const records = shards.reduce((a, s) => a + s.records, 0);
    const recordBytes = Math.ceil(bytes / records);
    const buf = Buffer.alloc(recordBytes, 0x5a);
    for (const [i, s] of shards.entries()) {
      const fd = openSync(join(dirs.raw, `raw-${i}`), 'w');
      for (let left = s.bytes; left > 0; left -= recordBytes) writeSync(fd, buf, 0, Math.min(left, recordBytes));
      closeSync(fd);
    }
  };
  // Sizes for the raw writes: the estimate merge plans with is within a fraction of a percent of the records.
  const recordEstimate = 2 * T * D * 4 + T * 12 + HISTOGRAM_BINS * 4 + 600;
  const perShard = config.PATIENTS_PER_SHARD; // shards now hold a configured number of patients
  for (let left = P; left > 0; left -= perShard)
    shards.push({ records: Math.min(left, perShard), bytes: Math.min(left, perShard) * recordEstimate });

  // raw, merge, raw, merge: the first pair meets whatever page cache the machine had; the second pair both start
  // right after 5+ GiB were deleted. Ratios are taken within a pair.
  const clear = (dir: string) => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
  };
  let result: Awaited<ReturnType<typeof run>> | undefined;
  const pairs: { raw: { wall: number; cpu: number }; merge: { wall: number; cpu: number } }[] = [];
  let peakMerge = 0;
  for (let round = 0; round < 2; round++) {
    const raw = await timed(writeRaw);
    clear(dirs.raw);
    peakSampled = rssMb();
    const merge = await timed(async () => (result = await run()));
    peakMerge = Math.max(peakMerge, peakSampled, rssMb());
    shards = Object.values(result!.shards).flat();
    clear(dirs.out);
    pairs.push({ raw, merge });
  }
  const bytes = shards.reduce((a, s) => a + s.bytes, 0);
  const records = shards.reduce((a, s) => a + s.records, 0);

  const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  const mibs = (s: number) => `${(bytes / 2 ** 20 / s).toFixed(0)} MiB/s`;
  console.log(
    `dataset: ${records} records in ${shards.length} shards, ${gib(bytes)} GiB (one record ${(bytes / records / 2 ** 20).toFixed(1)} MB)`,
  );
  for (const [i, { raw, merge }] of pairs.entries()) {
    console.log(
      `round ${i + 1}: merge ${merge.wall.toFixed(2)} s = ${mibs(merge.wall)} (${(records / merge.wall).toFixed(1)} patients/s, ${((P * T) / merge.wall).toFixed(0)} tiles/s), CPU ${merge.cpu.toFixed(2)} s; ` +
        `raw ${raw.wall.toFixed(2)} s = ${mibs(raw.wall)}, CPU ${raw.cpu.toFixed(2)} s; merge/raw throughput ${(raw.wall / merge.wall).toFixed(2)}, CPU ${(merge.cpu / raw.cpu).toFixed(2)}x raw`,
    );
  }
  console.log(
    `peak RSS during merge: ${peakMerge} MB sampled (${baseRss} MB before; process max RSS ${maxRssMb} MB incl. making inputs); the dataset is ${gib(bytes)} GiB`,
  );
} finally {
  clearInterval(sampler);
  rmSync(root, { recursive: true, force: true });
}
