/**
 * normalize on CPU runs a pixel-by-pixel model (StainNet) in slabs of rows, and through a colour table: which
 * models qualify, and that both give the very bytes whole tiles give (slabs that cross tile boundaries and a short
 * last slab included; colours repeated within a batch, across batches and across slides).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildModels } from '../../scripts/models/build.js';
import { buildStainNet, stainNetCard, stainNetGraph } from '../../scripts/models/stainnet.js';
import { writeModelFolder } from '../../scripts/models/write.js';
import { buildTinyCnn } from '../../scripts/models/tiny-cnn.js';
import { encodeRgb } from '../../shared/image.js';
import { mulberry32 } from '../../shared/random.js';
import { openModel } from '../../shared/onnx/model.js';
import { encodeModel } from '../../shared/onnx/onnx-proto.js';
import { TileRecordWriter } from '../../shared/tile-record.js';
import { normalizeTiles } from '../../stages/normalize/normalize.js';
import { isPixelwiseModel } from '../../stages/normalize/pixelwise.js';
import { tempDir } from '../helpers/dirs.js';

describe('normalize in slabs of rows', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('normalize-slabs');
  });
  after(() => tmp.cleanup());

  const write = (name: string, model: Buffer) => {
    const path = join(tmp.dir, `${name}.onnx`);
    writeFileSync(path, model);
    return path;
  };

  it('takes StainNet as pixel by pixel, and not a 3x3 CNN, fixed spatial dims or a positional constant', () => {
    assert.equal(isPixelwiseModel(write('stainnet', encodeModel(stainNetGraph({ shift: [20, -15, 10] })))), true);
    assert.equal(isPixelwiseModel(write('tiny', buildTinyCnn({ output: 'map', seed: 1 }))), false);
    assert.equal(isPixelwiseModel(write('fixed', encodeModel(stainNetGraph({ spatial: [448, 448] })))), false);
    const g = stainNetGraph();
    const positional = {
      ...g,
      initializers: [...g.initializers, { name: 'ramp', dims: [1, 3, 8, 8], data: new Float32Array(192) }],
      nodes: [
        ...g.nodes.slice(0, -1),
        { ...g.nodes[g.nodes.length - 1], outputs: ['y'] },
        { opType: 'Add', inputs: ['y', 'ramp'], outputs: ['output'] },
      ],
    };
    assert.equal(isPixelwiseModel(write('positional', encodeModel(positional))), false);
    assert.equal(isPixelwiseModel(join(tmp.dir, 'missing.onnx')), false);
  });

  it('writes the same bytes in slabs as in whole tiles', async () => {
    const S = 40;
    buildModels({ out: tmp.dir, normalize: 'shift', shift: [20, -15, 10], embed: 'none', seed: 0 });
    const path = join(tmp.dir, 'tiles.tfrecord');
    const w = await TileRecordWriter.open(path);
    for (let i = 0; i < 5; i++) {
      // noise, so that every pixel differs from its neighbours and a misplaced row shows
      const data = Buffer.alloc(S * S * 3);
      for (let k = 0; k < data.length; k++) data[k] = (k * 2654435761 + i * 97) >>> 24;
      await w.write({ slide: 's', image: await encodeRgb({ data, width: S, height: S }, 'png'), locX: i, locY: 0 });
    }
    await w.close();
    const settings = { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 };
    const m = await openModel(join(tmp.dir, 'normalize'), 'normalize', settings, undefined, { conversion: 'onnx' });
    assert.ok(m.pixelIo, 'the StainNet model is wrapped for pixels');
    const written: Buffer[] = [];
    try {
      // 7 rows: slabs cross tile boundaries and the last one is short; batches of 2 leave a last batch of 1
      for (const rowsPerRun of [undefined, 7]) {
        const out = join(tmp.dir, `out-${rowsPerRun ?? 'whole'}.tfrecord`);
        await normalizeTiles(path, out, m, {
          batchSize: 2,
          format: 'png',
          pixelwise: rowsPerRun ? { rowsPerRun } : undefined,
        });
        written.push(readFileSync(out));
      }
    } finally {
      await m.worker.close();
    }
    assert.ok(written[0].equals(written[1]), 'slabs wrote different bytes from whole tiles');
    assert.ok(!written[0].equals(readFileSync(path)), 'the shift model changed the tiles');
  });

  it('writes the same bytes through a colour table as in whole tiles, with dense random weights', async () => {
    // two tiles a batch make 4 chunks of look-ups (chunked-lookup.ts), for the stage's thread and the worker to share
    const S = 128;
    const dir = join(tmp.dir, 'random');
    writeModelFolder(dir, buildStainNet({ seed: 3 }), stainNetCard('stainnet-random', 'random weights (test model)'));
    assert.equal(isPixelwiseModel(join(dir, 'model.onnx')), true);
    const path = join(tmp.dir, 'palette.tfrecord');
    const w = await TileRecordWriter.open(path);
    for (let i = 0; i < 7; i++) {
      // tiles 0-3 noise of their own; 4 repeats 1 (every colour known from an earlier batch); 5 and 6 share one
      // small palette (colours repeated within a tile and within a batch)
      const data = Buffer.alloc(S * S * 3);
      const random = mulberry32(i === 4 ? 1 : i);
      for (let k = 0; k < data.length; k++) data[k] = i >= 5 ? ((k % 7) * 37 + (k % 3) * 11) & 255 : random() * 256;
      await w.write({ slide: 's', image: await encodeRgb({ data, width: S, height: S }, 'png'), locX: i, locY: 0 });
    }
    await w.close();
    const settings = { providers: ['cpu'], intraOpThreads: 2, interOpThreads: 0 };
    const m = await openModel(dir, 'normalize', settings, undefined, { conversion: 'onnx' });
    const written: Buffer[] = [];
    const run: (number | undefined)[] = [];
    try {
      const pixelwise = [
        undefined,
        { rowsPerRun: 5 },
        { rowsPerRun: 5, colourTable: true },
        { rowsPerRun: 5, colourTable: true },
      ];
      for (const [i, p] of pixelwise.entries()) {
        const out = join(tmp.dir, `random-${i}.tfrecord`);
        const r = await normalizeTiles(path, out, m, { batchSize: 2, format: 'png', pixelwise: p });
        written.push(readFileSync(out));
        run.push(r.coloursRun);
      }
    } finally {
      await m.worker.close();
    }
    assert.deepEqual(run.slice(0, 2), [undefined, undefined]);
    assert.ok(run[2]! > 4 * S * S * 0.9 && run[2]! < 5 * S * S, `the first slide ran ${run[2]} colours`);
    assert.equal(run[3], 0, 'the second slide through the same worker ran no colour: its table knew them all');
    assert.ok(!written[0].equals(readFileSync(path)), 'the random model changed the tiles');
    for (let i = 1; i < written.length; i++) assert.ok(written[0].equals(written[i]), `run ${i} wrote other bytes`);
  });
});
