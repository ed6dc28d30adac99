/**
 * A model stage's tile loop against its model's bare session.run, alternated round by round in this one process (a
 * host's slow spell then weighs on both sides of a round): each round the bare plans (e2e-refs.ts bareRate: one
 * session of every core, slabs for normalize, two sessions of half the cores; at the peer's batch of 8 and at the
 * stage's own where that differs), then the stage's own loop
 * (normalizeTiles, embedTiles) on the same tiles with the specs' settings, on a newly opened model as a stage process
 * started ahead has it at its first datum (embed's sessions warmed), and for embed the same sessions fed the tiles'
 * block sums made beforehand (fedRate: the loop less its reading). One JSON line per round. vs-peer.ts runs it with
 * the stage's spec's GLIBC_TUNABLES, so the loop and the bare model both get the C library's settings the stage runs
 * with.
 *
 *   npx tsx scripts/bench/model-loop.ts --task embed --models DIR/embed --tiles normalized.tfrecord
 *     --raw tiles.tfrecord --out DIR [--bare-tiles 64] [--rounds 3]
 *
 * --tiles: the loop's input (normalize: tile-extract's tiles; embed: normalize's); --raw: tile-extract's tiles, from
 * which the bare batches are made (as the bare models take them).
 */
import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { sessionSettings } from '../../shared/onnx/config.js';
import { decodeRgb } from '../../shared/image.js';
import { inferenceRate, runOverlapped, sessionsOver } from '../../shared/onnx/inference.js';
import { openModel, type OpenedModel } from '../../shared/onnx/model.js';
import { defaultBatchSize } from '../../shared/onnx/providers.js';
import { blockSums, sumsBatch } from '../../shared/onnx/tensor.js';
import { readTileRecords } from '../../shared/tile-record.js';
import { firstTileSide } from '../../shared/tiles/index.js';
import { embedSessionSettings, readEmbedConfig } from '../../stages/embed/config.js';
import { embedTiles, queueDepth, warmUp } from '../../stages/embed/embed.js';
import { readNormalizeConfig } from '../../stages/normalize/config.js';
import { normalizeTiles } from '../../stages/normalize/normalize.js';
import { pixelwisePlan, SLAB_ROWS } from '../../stages/normalize/pixelwise.js';
import { bareRate } from './e2e-refs.js';

export interface LoopRound {
  /** each bare plan's tiles/s, and the plan in words */
  bare: { tilesPerS: number; plan: string }[];
  alone: {
    tilesPerS: number;
    /** the sessions' own rate (inferenceRate; embed only: through normalize's colour table it is not the model's) */
    inference?: number;
    /** the sessions' seconds over the loop's (sessionRunsBetween) */
    busy: number;
    /**
     * embed: tiles/s of the same sessions fed block sums made beforehand, through the stage's worker and queue depth
     * (fedRate): the loop less its reading of the tiles
     */
    fed?: number;
  };
}

const TASKS = ['normalize', 'embed'] as const;
/** The peer's batch size (vs-peer.ts runs it with `--batch 8`). */
const PEER_BATCH = 8;
type Task = (typeof TASKS)[number];

/**
 * The stage's tile loop once, with the specs' settings (CPU, every core, embed's sessions by its own rule, no
 * spinning, pixels into the session; normalize in slabs through a fresh colour table).
 */
async function loopAlone(task: Task, modelDir: string, tiles: string, out: string): Promise<LoopRound['alone']> {
  const spec = { EXECUTION_PROVIDERS: 'cpu' };
  const settings =
    task === 'embed' ? embedSessionSettings(readEmbedConfig(spec)) : sessionSettings(readNormalizeConfig(spec));
  const tileSide = await firstTileSide(tiles);
  const model = await openModel(modelDir, task, settings, undefined, { conversion: 'onnx', tileSide });
  try {
    const batchSize = defaultBatchSize(task, 'cpu');
    // as a stage process started ahead of its datum has it (its `ahead`): embed's sessions all open and warmed
    if (task === 'embed' && tileSide) await warmUp(model, batchSize, tileSide);
    const loop = async () =>
      task === 'embed'
        ? (await embedTiles(tiles, model, batchSize)).n
        : (await normalizeTiles(tiles, out, model, { batchSize, format: 'png', pixelwise: pixelwisePlan(model, true) }))
            .tiles;
    const { result: n, seconds, runs, busy } = await sessionsOver(model.worker, loop);
    const fed = task === 'embed' && model.pixelIo?.sums ? await fedRate(model, tiles, batchSize) : undefined;
    return { tilesPerS: n / seconds, inference: task === 'embed' ? inferenceRate(runs) : undefined, busy, fed };
  } finally {
    await model.worker.close();
    rmSync(out, { force: true });
  }
}

/**
 * embed's sessions fed the block sums of `tiles` (normalize's), made before the clock starts, as the stage sends
 * them: copied into the worker's input buffers, `queueDepth` batches at once, each output given back. What the
 * stage's loop adds to this is its reading of the tiles (a record read and checked, its PNG decoded, its sums taken).
 */
async function fedRate(model: OpenedModel, tiles: string, batchSize: number): Promise<number> {
  const { worker, pixelIo } = model;
  const size = model.card.input.size;
  const sums: Uint16Array[] = [];
  for await (const t of readTileRecords(tiles)) {
    const img = await decodeRgb(t.image);
    const tile = new Uint16Array(3 * size * size);
    blockSums(tile, 0, img.data, img.width, pixelIo!.k);
    sums.push(tile);
  }
  async function* batches(): AsyncGenerator<Uint16Array[]> {
    for (let i = 0; i < sums.length; i += batchSize) yield sums.slice(i, i + batchSize);
  }
  const started = performance.now();
  await runOverlapped(
    batches(),
    (batch) => {
      const { data, dims } = sumsBatch(batch, size, (bytes) => worker.inputBuffer(bytes));
      return worker.run(pixelIo!.input, pixelIo!.output, data, dims);
    },
    (_, out) => worker.recycle(out),
    { depth: () => queueDepth(worker) },
  );
  return sums.length / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      task: { type: 'string' },
      models: { type: 'string' },
      tiles: { type: 'string' },
      raw: { type: 'string' },
      out: { type: 'string' },
      'bare-tiles': { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const task = values.task as Task;
  if (!TASKS.includes(task)) throw new Error(`--task: expected one of ${TASKS.join(', ')}, got '${values.task}'`);
  for (const k of ['models', 'tiles', 'raw', 'out'] as const)
    if (!values[k]) throw new Error(`--${k}: required (see the usage at the top of model-loop.ts)`);
  // the bare model at the peer's batch (8) and at the stage's own, whichever is its best
  const batches = [...new Set([PEER_BATCH, defaultBatchSize(task, 'cpu')])];
  const plans: { batch: number; slabRows?: number; sessions?: number }[] = [
    ...batches.map((batch) => ({ batch })),
    ...(task === 'normalize' ? [{ batch: PEER_BATCH, slabRows: SLAB_ROWS }] : []),
    ...(availableParallelism() >= 2 ? batches.map((batch) => ({ batch, sessions: 2 })) : []),
  ];
  const o = { count: Number(values['bare-tiles']), rounds: 2 };
  for (let round = 0; round < Number(values.rounds); round++) {
    const bare: LoopRound['bare'] = [];
    for (const p of plans) {
      const r = await bareRate(values.models!, task, values.raw!, { ...o, ...p });
      const shape = p.slabRows ? `slabs of ${p.slabRows} rows` : `batch ${p.batch}`;
      bare.push({ tilesPerS: r.tilesPerS, plan: `${shape}, ${r.sessions} x ${r.threads}` });
    }
    const alone = await loopAlone(task, values.models!, values.tiles!, values.out!);
    console.log(JSON.stringify({ bare, alone } satisfies LoopRound));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
