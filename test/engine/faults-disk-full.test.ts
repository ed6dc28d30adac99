/**
 * A full disk, on a real small tmpfs holding TESSELLA_HOME: a datum writing a TFRecord (the project's writer, as
 * normalize and tile-extract use it) fails within seconds naming ENOSPC and the file, `run` exits non-zero, the
 * store stays whole, and once space is freed `run` gives the outputs of a clean run. The engine's own writes
 * (a blob of `put file`, SQLite's) fail with a clear message, not a hang.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, writeTree } from './_engine-helpers.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';
import { assertStoreWhole, heads, mountTmpfs } from './_faults-helpers.js';

/** A stage's shape: keeps its event loop busy (as an ONNX session does), writes MiB records, logs its error. */
const WRITER = `
import { basename, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { TFRecordWriter } from ${JSON.stringify(join(projectRoot, 'shared', 'tfrecord.ts'))};
import { createLogger } from ${JSON.stringify(join(projectRoot, 'shared', 'log.ts'))};
const keepAlive = setInterval(() => undefined, 1000);
const src = process.env.src;
const name = basename(src);
const mib = Number(readFileSync(src, 'utf8').trim());
const w = await TFRecordWriter.open(join(process.env.PFS_ROOT, 'out', name, 'tiles.tfrecord'));
try {
  for (let i = 0; i < mib; i++) await w.write(Buffer.alloc(1 << 20, i + name.length));
  await w.close();
  clearInterval(keepAlive);
} catch (err) {
  await w.abort();
  createLogger('writer').error('failed', { error: err.stack });
  process.exit(1);
}
`;

const spec = (script: string) => `
pipeline: { name: writer }
input: { pfs: { repo: in, name: src, glob: "/*" } }
datumTries: 3
datumTimeout: 600s
transform:
  cmd: [node, --import, tsx, ${JSON.stringify(script)}]
`;

function setup(home: string, dir: string): void {
  writeTree(join(dir, 'input'), { a: '6\n', b: '6\n' });
  writeFileSync(join(dir, 'writer.mjs'), WRITER);
  writeFileSync(join(dir, 'writer.yaml'), spec(join(dir, 'writer.mjs')));
  for (const args of [
    ['create', 'repo', 'in'],
    ['put', 'file', 'in@master:/', '-r', '-f', join(dir, 'input')],
    ['create', 'pipeline', '-f', join(dir, 'writer.yaml')],
  ]) {
    const r = cli(home, args);
    assert.equal(r.code, 0, r.stderr);
  }
}

describe('faults: disk full', () => {
  let t: ReturnType<typeof tempDir>;
  let fs: ReturnType<typeof mountTmpfs>;
  let mnt: string;
  before(() => {
    t = tempDir();
    mnt = join(t.dir, 'mnt');
    fs = mountTmpfs(mnt, '24m');
  });
  after(() => {
    if ('unmount' in fs) fs.unmount();
    t.cleanup();
  });

  test('a datum on a full disk fails in seconds naming ENOSPC and the file; freed, run gives a clean run', (c) => {
    if ('skip' in fs) return c.skip(fs.skip);
    const clean = join(t.dir, 'clean');
    setup(join(clean, 'home'), clean);
    const ok = cli(join(clean, 'home'), ['run']);
    assert.equal(ok.code, 0, ok.stderr);
    const expected = heads(join(clean, 'home')).writer;
    assert.equal(Object.keys(expected).length, 2);

    const home = join(mnt, 'home');
    setup(home, join(t.dir, 'full'));
    // 20 of 24 MiB taken: each datum writes 6 MiB
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(20 << 20));
    const before = heads(home);
    const t0 = Date.now();
    const r = cli(home, ['run']);
    const seconds = (Date.now() - t0) / 1000;
    assert.notEqual(r.code, 0);
    assert.ok(seconds < 90, `run ended after ${seconds.toFixed(1)} s (3 tries of 2 datums), not at datumTimeout`);
    assert.match(r.stderr, /pipeline writer job \w+ failed/);
    assert.match(
      r.stderr,
      /datum \w+: exit code 1: cannot write \/pfs\/out\/[ab]\/tiles\.tfrecord: ENOSPC: no space left on device/,
    );
    // the store's path, which the user knows, not the datum's scratch folder; not retried, every datum would fail
    assert.ok(r.stderr.includes(`no space left on the device holding the store ${home} (TESSELLA_HOME)`), r.stderr);
    assert.doesNotMatch(r.stderr, /scratch/);
    assert.match(r.stderr, /not retried: a full disk/);
    assert.deepEqual(heads(home), before, 'nothing stored changed');
    assertStoreWhole(home);
    assert.deepEqual(readdirSync(join(home, 'scratch')), [], 'no scratch left behind');

    rmSync(join(mnt, 'filler'));
    const again = cli(home, ['run']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(heads(home).writer, expected, 'the outputs of a clean run');
    assertStoreWhole(home);
  });

  test("the engine's own writes on a full disk: put file and SQLite fail with a clear message, store whole", (c) => {
    if ('skip' in fs) return c.skip(fs.skip);
    const dir = join(t.dir, 'own');
    const home = join(mnt, 'own-home');
    assert.equal(cli(home, ['create', 'repo', 'in']).code, 0);
    writeTree(join(dir, 'big'), { 'big.bin': Buffer.alloc(30 << 20, 7) });
    const before = heads(home);
    const put = cli(home, ['put', 'file', 'in@master:/big.bin', '-f', join(dir, 'big', 'big.bin')]);
    assert.equal(put.code, 1);
    assert.match(
      put.stderr,
      /cannot store \S+big\.bin: no space left on the device holding \S+ \(ENOSPC\): free space and try again/,
    );
    assert.deepEqual(heads(home), before, 'no commit');
    assert.deepEqual(readdirSync(join(home, 'tmp')), [], 'no partial blob');

    // a datum that fills the disk once its output is written: what the engine then writes (blob, SQLite) fails
    writeTree(join(dir, 'input'), { a: 'a\n' });
    assert.equal(cli(home, ['put', 'file', 'in@master:/', '-r', '-f', join(dir, 'input')]).code, 0);
    const fill = join(mnt, 'fill');
    writeFileSync(
      join(dir, 'fill.yaml'),
      `
pipeline: { name: filler }
input: { pfs: { repo: in, name: src, glob: "/*" } }
datumTries: 2
transform:
  cmd: [sh]
  stdin:
    - cp $src /pfs/out/
    - if [ ! -e ${join(dir, 'filled')} ]; then touch ${join(dir, 'filled')}; dd if=/dev/zero of=${fill} bs=64k 2>/dev/null; fi; true
`,
    );
    assert.equal(cli(home, ['create', 'pipeline', '-f', join(dir, 'fill.yaml')]).code, 0);
    const stored = heads(home);
    const t0 = Date.now();
    const r = cli(home, ['run']);
    assert.ok(Date.now() - t0 < 60_000, 'no hang');
    if (r.code !== 0) {
      assert.match(r.stderr, /no space left|ENOSPC|disk is full/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    rmSync(fill, { force: true });
    assertStoreWhole(home);
    assert.deepEqual(heads(home).in, stored.in, 'the input repo is as it was');
    // with space again, the run completes
    const again = cli(home, ['run']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(heads(home).filler['/a'], stored.in['/a']);
  });
});
