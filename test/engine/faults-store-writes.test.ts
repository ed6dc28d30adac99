/**
 * No datum can change a stored byte or leave files in the store's folders, whatever it does (issue 11, items 4
 * and 5), under each isolation this machine offers: a mount namespace (the store read-only, out/ writable) and
 * private copies. Real processes writing real files: an append to an input, a same-size `dd conv=notrunc` then
 * `touch -d` back, writes to `$PFS_ROOT/out/../../x` and `/pfs/out/../../../escape-y`, symlinks in out/.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isolation } from '../../engine/worker/sandbox.js';
import { datumFiles, lastJob, listDatums } from '../../engine/pps/jobs.js';
import { Store } from '../../engine/store/store.js';
import { cli, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { assertStoreWhole, blobDigests, heads } from './_faults-helpers.js';

const pipeline = (name: string, lines: string[]) => `
pipeline: { name: ${name} }
input: { pfs: { repo: in, name: src, glob: "/a" } }
datumTries: 1
transform:
  cmd: [sh]
  stdin:
${lines.map((l) => `    - ${JSON.stringify(l)}`).join('\n')}
`;

const CASES = {
  append: ['set -e', 'echo appended >> $src', 'echo done > /pfs/out/x'],
  // same size, then the old time back: a check by size and mtime cannot see it
  overwrite: [
    'set -e',
    'old=$(stat -c %Y $src)',
    'printf XXXXXXXX | dd of=$src conv=notrunc status=none',
    'touch -d @$old $src',
    'echo done > /pfs/out/x',
  ],
  'up-two': ['set -e', 'echo escaped > $PFS_ROOT/out/../../x', 'echo done > /pfs/out/x'],
  'up-three': ['set -e', 'echo escaped > /pfs/out/../../../escape-y', 'echo done > /pfs/out/x'],
  'link-out': ['set -e', 'ln -s /etc/passwd /pfs/out/passwd'],
  'link-in': ['set -e', 'ln -s $src /pfs/out/same', 'mkdir /pfs/out/d', 'ln -s /pfs/src /pfs/out/d/all'],
};

interface Outcome {
  state: string;
  error: string;
  outputs: string[];
}

function outcomes(home: string): Record<string, Outcome> {
  const s = Store.open(home);
  try {
    const out: Record<string, Outcome> = {};
    for (const name of Object.keys(CASES)) {
      const j = lastJob(s, name)!;
      const [d] = listDatums(s, j.id);
      out[name] = { state: j.state, error: d.error ?? '', outputs: datumFiles(s, j.id, d.id).map((f) => f.path) };
    }
    return out;
  } finally {
    s.close();
  }
}

for (const mode of ['namespace', 'copy'] as const) {
  describe(`faults: a datum cannot write the store (TESSELLA_ISOLATION=${mode})`, () => {
    let t: ReturnType<typeof tempDir>;
    before(() => {
      t = tempDir();
    });
    after(() => t.cleanup());

    test('inputs written through, writes above out/, symlinks out of the inputs: stored bytes unchanged', (c) => {
      if (mode === 'namespace' && isolation() !== 'namespace')
        return c.skip('no mount namespace here (unshare refused)');
      const home = join(t.dir, 'home');
      const env = { TESSELLA_ISOLATION: mode };
      writeTree(join(t.dir, 'input'), { a: 'original' });
      assert.equal(cli(home, ['create', 'repo', 'in'], { env }).code, 0);
      assert.equal(cli(home, ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'input')], { env }).code, 0);
      for (const [name, lines] of Object.entries(CASES)) {
        writeFileSync(join(t.dir, `${name}.yaml`), pipeline(name, lines));
        const r = cli(home, ['create', 'pipeline', '-f', join(t.dir, `${name}.yaml`)], { env });
        assert.equal(r.code, 0, r.stderr);
      }
      const blobs = blobDigests(home);
      const inputHead = heads(home).in;
      const topBefore = readdirSync(home).sort();
      const aBlob = join(home, 'blobs', inputHead['/a'].slice(0, 2), inputHead['/a']);
      const mtime = statSync(aBlob).mtimeMs;

      const r = cli(home, ['run'], { env });
      assert.equal(r.code, 1, 'some pipelines failed');
      const o = outcomes(home);

      // not one stored byte changed: every blob that was there has its content, the input its original bytes
      const now = blobDigests(home);
      for (const [name, digest] of Object.entries(blobs)) assert.equal(now[name], digest, `blob ${name} unchanged`);
      assert.equal(statSync(aBlob).mtimeMs, mtime);
      assert.deepEqual(heads(home).in, inputHead);
      assertStoreWhole(home);

      if (mode === 'namespace') {
        for (const name of ['append', 'overwrite', 'up-two', 'up-three']) {
          assert.equal(o[name].state, 'failure', name);
          assert.match(o[name].error, /exit code \d+: .*Read-only file system/, name);
        }
        assert.match(o['up-two'].error, /\/out\/\.\.\/\.\.\/x/);
        assert.match(o['up-three'].error, /escape-y/);
      } else {
        // private copies: the datum changed its own copy, which is no stored file
        assert.equal(o.append.state, 'success', o.append.error);
        assert.equal(o.overwrite.state, 'success', o.overwrite.error);
        // the store's folders are not read-only here: what was left there fails the datum, named
        assert.equal(o['up-two'].state, 'failure');
        assert.match(
          o['up-two'].error,
          new RegExp(`wrote outside \\$PFS_ROOT/out, into the store's folders: ${join(home, 'scratch', 'x')}`),
        );
        assert.equal(o['up-three'].state, 'failure');
        assert.match(o['up-three'].error, new RegExp(`into the store's folders: ${join(home, 'escape-y')}`));
      }
      if (mode === 'namespace') {
        assert.deepEqual(readdirSync(home).sort(), topBefore, 'nothing new at the top of the store');
        assert.equal(existsSync(join(home, 'scratch', 'x')), false);
      }
      assert.equal(o['link-out'].state, 'failure');
      assert.match(
        o['link-out'].error,
        /output \/passwd is a symlink to \/etc\/passwd, which is outside the datum's inputs/,
      );
      assert.deepEqual(heads(home)['link-out'] ?? {}, {}, 'no output commit holds /etc/passwd');
      // links into the datum's own inputs are kept, by reference (Pachyderm's upload of an input by reference)
      assert.equal(o['link-in'].state, 'success', o['link-in'].error);
      assert.deepEqual(heads(home)['link-in'], { '/d/all/a': inputHead['/a'], '/same': inputHead['/a'] });
    });
  });
}
