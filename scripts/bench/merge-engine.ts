/**
 * The merge pipelines on the embedded engine over synthetic upstream repos, for the merge-incremental story test
 * and scripts/bench/merge-scale.ts. `tile-detect`, `embed` and `histogram` are created as plain repos holding what
 * those pipelines write (`/<slide>/tiles.json`, `/<slide>/embeddings.safetensors`, `/<slide>/histogram.safetensors`),
 * `models` holds a stand-in `/normalize/model.onnx` (its bytes are only hashed into dataset.json); the four merge-*
 * specs are the project's own, with their cmd run from the sources (tsx) or from dist/, and env overrides applied.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EMBEDDINGS_FILE,
  embeddingTensors,
  HISTOGRAM_BINS,
  HISTOGRAM_FILE,
  histogramTensors,
} from '../../shared/contract/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { handMadeTilesJson, writeHandMadeTilesJson } from '../../test/helpers/tiles-json.js';

/** The checkout (this file runs from scripts/bench/ through tsx or from dist/scripts/bench/). */
export const projectRoot = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
})();
export const MERGE_PIPELINES = ['merge-assign', 'merge-slide', 'merge-shard', 'merge'];

export interface EngineOptions {
  home: string;
  work: string;
  /** run stages from dist/ (npm run build first) rather than the TypeScript sources */
  dist?: boolean;
  env?: Record<string, string>;
}

export class MergeEngine {
  readonly seen = new Set<string>();
  constructor(readonly o: EngineOptions) {
    mkdirSync(o.work, { recursive: true });
  }

  tessella(...args: string[]): string {
    const entry = this.o.dist
      ? [join(projectRoot, 'dist', 'engine', 'cli.js')]
      : ['--import', 'tsx', join(projectRoot, 'app', 'cli.ts')];
    const r = spawnSync(process.execPath, [...entry, ...args], {
      cwd: projectRoot,
      env: { ...process.env, TESSELLA_HOME: this.o.home, TESSELLA_LOG_FORMAT: 'json', TESSELLA_GPUS: '' },
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      timeout: 1_800_000,
    });
    if (r.status !== 0)
      throw new Error(`tessella ${args.join(' ')} exited ${r.status}:\n${(r.stderr ?? '').slice(-4000)}`);
    return r.stdout;
  }

  setup(): void {
    for (const repo of ['manifest', 'models', 'tile-detect', 'embed', 'histogram'])
      this.tessella('create', 'repo', repo);
    const specs = join(this.o.work, 'pipelines');
    mkdirSync(specs, { recursive: true });
    for (const p of MERGE_PIPELINES) {
      let text = readFileSync(join(projectRoot, 'pipelines', `${p}.yaml`), 'utf8');
      if (!this.o.dist)
        text = text.replace(
          /\["node", "dist\/stages\/([\w-]+)\/main\.js"\]/,
          (_m, s: string) => `["node", "--import", "tsx", "stages/${s}/main.ts"]`,
        );
      for (const [k, v] of Object.entries(this.o.env ?? {}))
        text = text.replace(new RegExp(`^(\\s+${k}:) "[^"]*"`, 'm'), `$1 "${v}"`);
      writeFileSync(join(specs, `${p}.yaml`), text);
      this.tessella('create', 'pipeline', '-f', join(specs, `${p}.yaml`));
    }
    const models = join(this.o.work, 'models', 'normalize');
    mkdirSync(models, { recursive: true });
    writeFileSync(join(models, 'model.onnx'), 'stand-in normalize model\n');
    writeFileSync(join(models, 'model.json'), JSON.stringify({ name: 'stand-in' }) + '\n');
    this.tessella('put', 'file', 'models@master:/normalize', '-r', '-f', models);
  }

  /** Writes the slides' upstream outputs into a staging folder and commits each repo once; the staging is removed. */
  putSlides(slides: { id: string; index: number; tiles: number; dim: number }[]): void {
    const stage = join(this.o.work, 'staging');
    rmSync(stage, { recursive: true, force: true });
    for (const s of slides) writeSlide(stage, s);
    for (const repo of ['tile-detect', 'embed', 'histogram'])
      this.tessella('put', 'file', `${repo}@master:/`, '-r', '-f', join(stage, repo));
    rmSync(stage, { recursive: true, force: true });
  }

  putManifest(csv: string, name = 'manifest.csv'): void {
    const f = join(this.o.work, name);
    writeFileSync(f, csv);
    this.tessella('put', 'file', `manifest@master:/${name}`, '-f', f);
  }

  run(): void {
    this.tessella('run');
  }

  /** path -> content hash of every file in `repo@master`. */
  files(repo: string): Map<string, string> {
    const out = new Map<string, string>();
    const text = this.tessella('glob', 'file', `${repo}@master:/**`, '-o', 'json');
    for (const line of text.split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { file: { path: string }; type: string; hash: string | null };
      if (e.type === 'file' && e.hash) out.set(e.file.path, e.hash);
    }
    return out;
  }

  /** Datums processed and skipped per pipeline by the jobs since the last call. */
  jobsSince(): Record<string, { processed: number; skipped: number }> {
    const per: Record<string, { processed: number; skipped: number }> = Object.fromEntries(
      MERGE_PIPELINES.map((p) => [p, { processed: 0, skipped: 0 }]),
    );
    for (const line of this.tessella('list', 'job', '-o', 'json').split('\n').filter(Boolean)) {
      const j = JSON.parse(line) as {
        job: { id: string; pipeline: string };
        state: string;
        reason?: string;
        data_processed: number;
        data_skipped: number;
      };
      const key = j.job.pipeline + '@' + j.job.id;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      if (j.state !== 'success') throw new Error(`job ${key}: ${j.state} ${j.reason ?? ''}`);
      per[j.job.pipeline].processed += j.data_processed;
      per[j.job.pipeline].skipped += j.data_skipped;
    }
    return per;
  }
}

/** One slide's upstream outputs, deterministic from its index: embeddings [tiles, dim] avg and max, a histogram. */
export function writeSlide(root: string, s: { id: string; index: number; tiles: number; dim: number }): void {
  const { tiles, dim } = s;
  const avg = new Float32Array(tiles * dim);
  const max = new Float32Array(tiles * dim);
  for (let i = 0; i < avg.length; i++) {
    avg[i] = s.index + i / avg.length;
    max[i] = -s.index - i / avg.length;
  }
  const loc = new Int32Array(tiles * 2);
  for (let t = 0; t < tiles; t++) {
    loc[2 * t] = 224 + 448 * (t % 100);
    loc[2 * t + 1] = 224 + 448 * Math.floor(t / 100);
  }
  const meta = {
    slide: s.id,
    model_sha256: 'ab'.repeat(32),
    model_card: JSON.stringify({ name: 'synthetic', output: { dim } }),
  };
  writeSafetensors(
    join(root, 'embed', s.id, EMBEDDINGS_FILE),
    embeddingTensors({ n: tiles, dim, avg, max, loc }),
    meta,
  );
  const sum = new Float64Array(HISTOGRAM_BINS);
  sum[s.index % HISTOGRAM_BINS] = tiles;
  writeSafetensors(join(root, 'histogram', s.id, HISTOGRAM_FILE), histogramTensors(sum, tiles), { slide: s.id });
  const counts = { grid: tiles + 7, kept: tiles, dropped: { background: 7, max_tiles: 0 } };
  writeHandMadeTilesJson(join(root, 'tile-detect', s.id), handMadeTilesJson(s.id, { counts }));
  // tile-detect's overlay, which merge-slide scales down for the QC page (a tiny one: its links are what is measured).
  mkdirSync(join(root, 'tile-detect', s.id, 'qc'), { recursive: true });
  writeFileSync(join(root, 'tile-detect', s.id, 'qc', 'tiles.jpg'), TINY_OVERLAY);
}

/** A 64 x 48 JPEG. */
const TINY_OVERLAY = Buffer.from(
  '/9j/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAwAEADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFgEBAQEAAAAAAAAAAAAAAAAAAAME/8QAFBEBAAAAAAAAAAAAAAAAAAAAAP/aAAwDAQACEQMRAD8AqQFWoAAAAAAAAAAAAAAAAAAAAAB//9k=',
  'base64',
);
