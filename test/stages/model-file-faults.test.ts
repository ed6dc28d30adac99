/**
 * A damaged model folder in the models repo is the model's fault, the same on every datum: embed, run as the engine
 * runs a datum, fails (exit 1) with one message naming the file as the repo has it (models@<commit>:/embed/...),
 * never the datum's scratch folder or a protobufjs stack, and logs the crash with kind 'model'.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildModels } from '../../scripts/models/build.js';
import { tempDir } from '../helpers/dirs.js';
import { runStage, syntheticTiles, writeTiles } from '../onnx/helpers.js';

describe('embed with a damaged model.onnx or model.json', () => {
  const tmp = tempDir('model-file');
  let n = 0;
  before(async () => {
    const { tiles } = await syntheticTiles(2, 448, 'jpeg');
    await writeTiles(join(tmp.dir, 'tiles'), 's1', tiles);
    buildModels({ out: join(tmp.dir, 'built'), normalize: 'none', shift: [0, 0, 0], embed: 'tiny', seed: 3 });
  });
  after(() => tmp.cleanup());

  /** A datum's /pfs with the tiles and a copy of the model folder, damaged by `damage`; the stage's failure. */
  function runDamaged(damage: (folder: string) => void): { message: string; kind: unknown; stderr: string } {
    const pfs = join(tmp.dir, `pfs-${n++}`);
    cpSync(join(tmp.dir, 'tiles'), join(pfs, 'normalize'), { recursive: true });
    cpSync(join(tmp.dir, 'built', 'embed'), join(pfs, 'models', 'embed'), { recursive: true });
    damage(join(pfs, 'models', 'embed'));
    const r = runStage('embed', {
      PFS_ROOT: pfs,
      normalize: join(pfs, 'normalize', 's1'),
      models: join(pfs, 'models', 'embed'),
      models_COMMIT: 'c0ffee',
    });
    assert.equal(r.status, 1, r.stderr);
    const failed = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((e) => e.event === 'failed');
    assert.ok(failed, r.stderr);
    assert.ok(!failed.message.includes(pfs), `names the scratch folder: ${failed.message}`);
    return { message: failed.message, kind: failed.kind, stderr: r.stderr };
  }

  it('cut short: the repo path, its size, "not a complete ONNX model", where the graph ends', () => {
    let size = 0;
    const r = runDamaged((folder) => {
      const onnx = join(folder, 'model.onnx');
      size = Math.floor(statSync(onnx).size / 2);
      truncateSync(onnx, size);
    });
    assert.match(
      r.message,
      new RegExp(
        `^models@c0ffee:/embed/model\\.onnx \\(${size} bytes\\) is not a complete ONNX model: the graph needs`,
      ),
    );
    assert.equal(r.kind, 'model');
    assert.doesNotMatch(r.stderr, /index out of range/);
  });

  it('overwritten inside the graph: ONNX Runtime cannot parse it, said the same way', () => {
    const r = runDamaged((folder) => {
      const onnx = join(folder, 'model.onnx');
      const bytes = readFileSync(onnx);
      bytes.fill(0x07, 300, 400);
      writeFileSync(onnx, bytes);
    });
    assert.match(
      r.message,
      /^models@c0ffee:\/embed\/model\.onnx \(\d+ bytes\) is not a complete ONNX model: ONNX Runtime/,
    );
    assert.equal(r.kind, 'model');
  });

  it('a model.json that is not JSON: named as models@<commit>:/embed/model.json', () => {
    const r = runDamaged((folder) => writeFileSync(join(folder, 'model.json'), '{"name": "x",'));
    assert.match(r.message, /models@c0ffee:\/embed\/model\.json: cannot read the model card/);
    assert.equal(r.kind, 'model');
  });
});
