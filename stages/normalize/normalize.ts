/**
 * Stain normalization of one slide's tiles with a StainNet-like image-to-image model (DESIGN.md step 3):
 * decode, (rgb/255 - 0.5)/0.5 per the card, run batched in the inference worker, turn the output back into
 * pixels per the card (clamp, round), encode (PNG by default: lossless, so embed and histogram read the model's
 * pixels and the tiles carry one JPEG generation, tile-extract's), write the same keys in the same order.
 * With a model wrapped for pixels (model.pixelIo) the worker takes and gives uint8 pixels and the card's
 * arithmetic runs inside it; otherwise it runs here (tensor.ts).
 */
import type { Logger } from '../../shared/log.js';
import { decodeRgb, encodeRgb, imageFormatOf, type TileEncoding, type TileFormat } from '../../shared/image.js';
import type { RgbImage } from '../../shared/slide/index.js';
import { BufferPool } from '../../shared/slide/buffer-pool.js';
import { describeShape } from '../../shared/onnx/card.js';
import { InferenceRunError, runOverlapped } from '../../shared/onnx/inference.js';
import type { OpenedModel } from '../../shared/onnx/model.js';
import { fillInput, inputDims, outputToRgb, pixelBatch } from '../../shared/onnx/tensor.js';
import { tileBatches } from '../../shared/tiles/index.js';
import { countTiles, TileRecordWriter } from '../../shared/tile-record.js';

export interface NormalizeOptions {
  batchSize: number;
  /** 'same' keeps each tile's format (JPEG stays JPEG). */
  format: 'same' | TileFormat;
  encoding?: Partial<TileEncoding>;
  /**
   * A pixel-by-pixel model taking pixels (pixelwise.ts): run each batch as slabs of `rowsPerRun` rows, and with
   * `colourTable` only the colours the worker has not answered yet, in this slide or an earlier one.
   */
  pixelwise?: { rowsPerRun: number; colourTable?: boolean };
}

interface DecodedTile {
  img: RgbImage;
  format: TileFormat;
}

export async function normalizeTiles(
  inputPath: string,
  outputPath: string,
  model: OpenedModel,
  opts: NormalizeOptions,
  log?: Logger,
): Promise<{ tiles: number; coloursRun?: number }> {
  const { card, worker } = model;
  const writer = await TileRecordWriter.open(outputPath);
  const progress = log?.progress('normalize', countTiles(inputPath), 'tiles');
  // a tile's pixels are copied into the batch's input when it runs: their buffer then serves a later tile
  const tilePixels = new BufferPool(2 * opts.batchSize);
  // and an encoded tile's buffer, once the file has it (a stored PNG is written into it; other encodings ignore it)
  const tileFiles = new BufferPool(4 * opts.batchSize);
  let coloursRun = 0;
  try {
    const batches = tileBatches<DecodedTile>(
      inputPath,
      opts.batchSize,
      async (record) => {
        const format = imageFormatOf(record.image);
        if (!format)
          throw new Error(`neither JPEG nor PNG (first bytes ${record.image.subarray(0, 4).toString('hex')})`);
        return { img: await decodeRgb(record.image, (bytes) => tilePixels.take(bytes)), format };
      },
      (t) => `${t.img.width}x${t.img.height}`,
    );
    const pixelIo = model.pixelIo;
    await runOverlapped(
      batches,
      (batch) => {
        const { width, height } = batch.items[0].img;
        const n = batch.items.length;
        if (pixelIo) {
          // through the colour table both threads read the batch at once: shared memory
          const shared = opts.pixelwise?.colourTable === true;
          const { data, dims } = pixelBatch(
            batch.items.map((t) => t.img.data),
            height,
            width,
            (bytes) => (shared ? worker.inputBuffer(bytes, true) : worker.inputBuffer(bytes)),
          );
          for (const t of batch.items) tilePixels.give(t.img.data);
          return worker.run(pixelIo.input, pixelIo.output, data, dims, opts.pixelwise);
        }
        const data = new Float32Array(n * 3 * width * height);
        batch.items.forEach((t, i) => fillInput(data, i, t.img.data, height, width, card.input));
        for (const t of batch.items) tilePixels.give(t.img.data);
        return worker.run(card.input.name, card.output.name, data, inputDims(card.input.layout, n, height, width));
      },
      async (batch, out) => {
        const { width, height } = batch.items[0].img;
        const n = batch.items.length;
        // a wrapped model returns NHWC pixels, whatever the model's own layout
        const want = inputDims(pixelIo || card.output.layout === 'NHWC' ? 'NHWC' : 'NCHW', n, height, width);
        if (out.dims.join(',') !== want.join(',')) {
          throw new InferenceRunError(
            `the model returned ${describeShape(out.dims)} for tiles of ${width}x${height}; a normalize model must return the same size, ${describeShape(want)}`,
            inputDims(card.input.layout, n, height, width),
          );
        }
        const y = out.data;
        const encoded = await Promise.all(
          batch.items.map((t, i) => {
            const tile = height * width * 3;
            const rgb =
              y instanceof Uint8Array
                ? Buffer.from(y.buffer, y.byteOffset + i * tile, tile)
                : outputToRgb(y, i, height, width, card.output);
            return encodeRgb(
              { data: rgb, width, height },
              opts.format === 'same' ? t.format : opts.format,
              opts.encoding,
              undefined,
              (bytes) => tileFiles.take(bytes),
            );
          }),
        );
        // the pixels are in the encoded tiles now: the buffer goes back for a later batch's output
        if (out.coloursRun !== undefined) coloursRun += out.coloursRun;
        worker.recycle(out);
        for (let i = 0; i < n; i++) {
          const r = batch.records[i];
          const image = encoded[i];
          await writer.write({ slide: r.slide, image, locX: r.locX, locY: r.locY }, () => tileFiles.give(image));
        }
        progress?.tick(n);
      },
      {
        // through the colour table a third batch waits in the worker: it never idles while this thread decodes and
        // encodes, and this thread looks up while it waits (443 tiles alone: 1.03-1.16x over five alternated pairs)
        depth: opts.pixelwise?.colourTable ? 3 : 2,
        whileWaiting: () => worker.lookUpWhileWaiting(),
        // the next batch's JPEGs decode on libuv's threads while this one's PNGs are encoded and written, not after
        // (1,875 tiles alone: 1.10-1.16x over four alternated pairs)
        prefetch: true,
      },
    );
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  progress?.finish();
  return { tiles: writer.count, ...(opts.pixelwise?.colourTable && { coloursRun }) };
}
