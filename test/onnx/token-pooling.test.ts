/**
 * The card's pooling modes and float16 models, on small ViT-shaped token models built here (scripts/models/tiny-vit.ts):
 * embed's vectors for each mode equal a direct computation from the same model's tokens, with registers left out of
 * the mean, in both pixel conversions; a float16 model's vectors agree with its float32 twin to half precision.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { buildTinyVit, tinyVitCard, type TinyVitOptions } from '../../scripts/models/tiny-vit.js';
import { writeModelFolder } from '../../scripts/models/write.js';
import { embedTiles, type Embeddings } from '../../stages/embed/embed.js';
import { TILES_TFRECORD } from '../../shared/contract/index.js';
import { POOLING_MODES, type PoolingMode } from '../../shared/onnx/card.js';
import { fromHalfBits, toHalfBits } from '../../shared/onnx/half.js';
import { sessionSettings } from '../../shared/onnx/config.js';
import { openModel } from '../../shared/onnx/model.js';
import { Logger } from '../../shared/log.js';
import { readEmbedConfig } from '../../stages/embed/config.js';
import { tempDir } from '../helpers/dirs.js';
import { syntheticTiles, writeTiles } from './helpers.js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const C = 48;
const settings = { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 };

/** 448 px tiles to the model's input, written here on its own: 2x2 mean, ImageNet normalization, NCHW. */
async function referenceInput(images: Buffer[]): Promise<Float32Array> {
  const S = 224;
  const x = new Float32Array(images.length * 3 * S * S);
  for (let t = 0; t < images.length; t++) {
    const { data } = await sharp(images[t]).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < S; y++)
        for (let xx = 0; xx < S; xx++) {
          const at = (yy: number, xc: number) => data[(yy * 448 + xc) * 3 + c];
          const v = (at(2 * y, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx) + at(2 * y + 1, 2 * xx + 1)) / 4;
          x[((t * 3 + c) * S + y) * S + xx] = (v / 255 - MEAN[c]) / STD[c];
        }
  }
  return x;
}

/** Each tile's class token and patch-token mean and max, from the model's tokens [n, l, C]. */
function referenceVectors(tokens: Float32Array, n: number, l: number, prefix: number) {
  const cls = new Float32Array(n * C);
  const avg = new Float32Array(n * C);
  const max = new Float32Array(n * C).fill(-Infinity);
  for (let t = 0; t < n; t++)
    for (let d = 0; d < C; d++) {
      cls[t * C + d] = tokens[t * l * C + d];
      let sum = 0;
      for (let k = prefix; k < l; k++) {
        const v = tokens[(t * l + k) * C + d];
        sum += v;
        max[t * C + d] = Math.max(max[t * C + d], v);
      }
      avg[t * C + d] = sum / (l - prefix);
    }
  return { cls, avg, max };
}

function worstRelative(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

describe('pooling modes and float16 on ViT-shaped token models', () => {
  const tmp = tempDir('token-pooling');
  let images: Buffer[];
  let input: string;
  before(async () => {
    const { tiles } = await syntheticTiles(5, 448, 'jpeg');
    images = tiles.map((t) => t.image);
    await writeTiles(join(tmp.dir, 'normalize'), 's1', tiles);
    input = join(tmp.dir, 'normalize', 's1', TILES_TFRECORD);
  });
  after(() => tmp.cleanup());

  const embedWith = async (
    mode: PoolingMode,
    opts: TinyVitOptions,
    conversion: 'js' | 'onnx',
  ): Promise<{ e: Embeddings; precision: string }> => {
    const dir = join(tmp.dir, `${mode}-${opts.registers ?? 0}-${opts.float16 ? 'f16' : 'f32'}`);
    writeModelFolder(dir, buildTinyVit({ ...opts, features: C, seed: 5 }), tinyVitCard(mode, opts));
    const m = await openModel(dir, 'embed', settings, undefined, { conversion, tileSide: 448 });
    assert.equal(m.pixelIo !== undefined, conversion === 'onnx', 'wrapped for pixels as asked');
    try {
      return { e: await embedTiles(input, m, 2), precision: m.precision };
    } finally {
      await m.worker.close();
    }
  };

  /** The float32 model's tokens, run directly on the reference input. */
  const directTokens = async (registers: number) => {
    const session = await ort.InferenceSession.create(buildTinyVit({ features: C, seed: 5, registers }));
    const x = await referenceInput(images);
    const out = await session.run({ pixels: new ort.Tensor('float32', x, [images.length, 3, 224, 224]) });
    await session.release();
    return out.tokens;
  };

  for (const registers of [0, 4]) {
    it(`every mode writes its vectors, equal to the tokens' class token, mean and max (${registers} registers)`, async () => {
      const tokens = await directTokens(registers);
      const [n, l] = tokens.dims;
      assert.equal(l, 1 + registers + 196);
      const ref = referenceVectors(tokens.data as Float32Array, n, l, 1 + registers);
      const expected: Record<PoolingMode, string[]> = {
        'mean+max': ['avg', 'max'],
        mean: ['avg'],
        cls: ['cls'],
        'cls+mean': ['avg', 'cls'],
      };
      for (const mode of POOLING_MODES) {
        for (const conversion of ['js', 'onnx'] as const) {
          const { e } = await embedWith(mode, { registers }, conversion);
          assert.deepEqual(e.vectors, expected[mode], `${mode}: vectors`);
          assert.deepEqual([e.n, e.dim], [n, C]);
          for (const v of ['avg', 'max', 'cls'] as const) {
            if (!expected[mode].includes(v)) {
              assert.equal(e[v], undefined, `${mode} writes no ${v}`);
              continue;
            }
            const worst = worstRelative(e[v]!, ref[v]);
            assert.ok(worst < 1e-4, `${mode} ${conversion} ${v}: largest relative difference ${worst}`);
          }
        }
      }
      // the mean leaves the registers out: with them it would differ
      const withRegisters = referenceVectors(tokens.data as Float32Array, n, l, 1);
      if (registers) assert.ok(worstRelative(withRegisters.avg, ref.avg) > 1e-3, 'registers change the mean');
    });
  }

  it('a float16 model runs in both pixel conversions, its vectors float32 and within half precision of float32', async () => {
    const full = await embedWith('cls+mean', { registers: 2 }, 'onnx');
    assert.equal(full.precision, 'float32');
    for (const conversion of ['js', 'onnx'] as const) {
      const half = await embedWith('cls+mean', { registers: 2, float16: true }, conversion);
      assert.equal(half.precision, 'float16');
      for (const v of ['avg', 'cls'] as const) {
        assert.ok(half.e[v] instanceof Float32Array);
        const worst = worstRelative(half.e[v]!, full.e[v]!);
        // inputs and outputs rounded to 11 significant bits: ~1e-3 relative, far from float32's 1e-7
        assert.ok(worst > 0 && worst < 2e-2, `${conversion} ${v}: largest relative difference ${worst}`);
      }
    }
  });

  it('PRECISION=fp16 on CPU runs a float32 model in float32 and logs why; a float16 model needs no setting', async () => {
    const lines: string[] = [];
    const log = new Logger('embed', {}, { isTTY: false, write: (l: string) => void lines.push(l) });
    const settings16 = sessionSettings(readEmbedConfig({ PRECISION: 'fp16', EXECUTION_PROVIDERS: 'cpu' }));
    assert.equal(settings16.fp16, true);
    for (const float16 of [false, true]) {
      const dir = join(tmp.dir, `fp16-setting-${float16}`);
      writeModelFolder(dir, buildTinyVit({ features: C, float16 }), tinyVitCard('cls', { float16 }));
      lines.length = 0;
      const m = await openModel(dir, 'embed', settings16, log);
      await m.worker.close();
      assert.equal(m.precision, float16 ? 'float16' : 'float32');
      const warned = lines.some(
        (l) => /PRECISION=fp16 not applied/.test(l) && /cpu provider runs a model in the types/.test(l),
      );
      assert.equal(warned, !float16, lines.join(''));
    }
  });

  it('float16 conversion rounds to nearest even and keeps subnormals, infinities and NaN', () => {
    assert.equal(toHalfBits(1), 0x3c00);
    assert.equal(toHalfBits(-2), 0xc000);
    assert.equal(toHalfBits(65504), 0x7bff);
    assert.equal(toHalfBits(65520), 0x7c00, 'rounds up to infinity');
    assert.equal(toHalfBits(2 ** -24), 0x0001, 'smallest subnormal');
    assert.equal(toHalfBits(2 ** -26), 0x0000, 'below half the smallest subnormal: zero');
    assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00, 'a tie rounds to even (down)');
    assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02, 'a tie rounds to even (up)');
    assert.ok(Number.isNaN(fromHalfBits(toHalfBits(NaN))));
    assert.equal(fromHalfBits(toHalfBits(-Infinity)), -Infinity);
    for (const v of [0.1, -3.25, 1000.5, 6e-5]) {
      const back = fromHalfBits(toHalfBits(v));
      assert.ok(Math.abs(back - v) <= Math.abs(v) * 2 ** -11, `${v} -> ${back}`);
    }
  });
});
