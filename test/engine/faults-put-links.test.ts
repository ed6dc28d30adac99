/**
 * `put file -r` and `add slides` and symlinks (issue 11, item 6), on real links: one leaving the folder is refused
 * naming it (followed with -L only), a dangling one and a loop are named, never a raw ENOENT/ELOOP; links inside
 * the folder are followed. A refused put makes no commit.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { blobDigests, heads } from './_faults-helpers.js';

describe('faults: symlinks in what is put', () => {
  let t: ReturnType<typeof tempDir>;
  before(() => {
    t = tempDir();
  });
  after(() => t.cleanup());

  test('put file -r: out of the folder refused (-L follows), dangling and loops named, inside followed', () => {
    const home = join(t.dir, 'home');
    const dir = join(t.dir, 'up');
    writeTree(dir, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    writeTree(join(t.dir, 'elsewhere'), { 'secret.txt': 'secret' });
    assert.equal(cli(home, ['create', 'repo', 'r']).code, 0);
    const put = (...extra: string[]) => cli(home, ['put', 'file', 'r@master:/', '-r', '-f', dir, ...extra]);
    const nothingStored = () => {
      assert.deepEqual(heads(home).r, {});
      assert.deepEqual(blobDigests(home), {});
    };

    symlinkSync('/etc/passwd', join(dir, 'pw'));
    let r = put();
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `tessella put file: ${join(dir, 'pw')} is a symlink to /etc/passwd, outside ${dir}: not followed (put the folder with -L/--follow-links to put what links point to wherever it is)`,
    );
    nothingStored();
    rmSync(join(dir, 'pw'));

    symlinkSync('/etc', join(dir, 'etc'));
    r = put();
    assert.match(r.stderr, new RegExp(`${join(dir, 'etc')} is a symlink to /etc, outside`));
    nothingStored();
    rmSync(join(dir, 'etc'));

    symlinkSync('missing.txt', join(dir, 'dangling'));
    r = put();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${join(dir, 'dangling')} is a symlink to missing\\.txt, which does not exist`));
    assert.doesNotMatch(r.stderr, /ENOENT/);
    nothingStored();
    rmSync(join(dir, 'dangling'));

    symlinkSync('loop2', join(dir, 'loop1'));
    symlinkSync('loop1', join(dir, 'loop2'));
    r = put();
    assert.match(r.stderr, new RegExp(`${join(dir, 'loop1')} is a symlink in a loop of symlinks \\(to loop2\\)`));
    assert.doesNotMatch(r.stderr, /ELOOP/);
    assert.ok(r.stderr.length < 400, 'no path hundreds of characters long');
    nothingStored();
    rmSync(join(dir, 'loop1'));
    rmSync(join(dir, 'loop2'));

    symlinkSync('..', join(dir, 'sub', 'up'));
    r = put();
    assert.match(r.stderr, new RegExp(`${join(dir, 'sub', 'up')} is a symlink to \\.\\., a folder above it: a loop`));
    nothingStored();
    rmSync(join(dir, 'sub', 'up'));

    // inside the folder: followed; out of it with -L: followed
    symlinkSync('../a.txt', join(dir, 'sub', 'a-link'));
    symlinkSync(join(t.dir, 'elsewhere', 'secret.txt'), join(dir, 'outside'));
    assert.equal(put().code, 1);
    r = put('-L');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(heads(home).r).sort(), ['/a.txt', '/outside', '/sub/a-link', '/sub/b.txt']);
  });

  test('add slides: a slide linked from outside the folder is refused naming it; -L adds it', () => {
    const home = join(t.dir, 'slides-home');
    const dir = join(t.dir, 'slides');
    mkdirSync(dir);
    writeTree(join(t.dir, 'lake'), { 'S2.svs': 'slide bytes' });
    writeTree(dir, { 'S1.svs': 'slide one' });
    symlinkSync(join(t.dir, 'lake', 'S2.svs'), join(dir, 'S2.svs'));
    let r = cli(home, ['add', 'slides', dir]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `${join(dir, 'S2.svs')} is a symlink to ${join(t.dir, 'lake', 'S2.svs')}, outside ${dir}: not followed`,
      ),
    );
    assert.deepEqual(heads(home).slides ?? {}, {});
    symlinkSync('gone.svs', join(dir, 'S3.svs'));
    r = cli(home, ['add', 'slides', dir, '-L']);
    assert.match(r.stderr, new RegExp(`${join(dir, 'S3.svs')} is a symlink to gone\\.svs, which does not exist`));
    rmSync(join(dir, 'S3.svs'));
    r = cli(home, ['add', 'slides', dir, '-L']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(heads(home).slides).sort(), ['/S1/S1.svs', '/S2/S2.svs']);
  });
});
