/**
 * A 0-byte slide is refused where it is put, naming the file: `add slides` refuses an empty file into any repo,
 * `put file` into the slides repo (tessella's put check; Pachyderm allows empty files, and so does `put file`
 * into any other repo). Nothing is committed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { cli, writeTree } from './_engine-helpers.js';

const t = tempDir('put-empty-slide');
after(() => t.cleanup());

test('add slides and put file into slides refuse a 0-byte slide; other repos take empty files', () => {
  const home = join(t.dir, 'home');
  const slides = join(t.dir, 'slides');
  writeTree(slides, { 'good.svs': 'not empty', 'cut.svs': '' });
  const add = cli(home, ['add', 'slides', slides]);
  assert.equal(add.code, 1, add.stderr);
  assert.ok(add.stderr.includes(`${join(slides, 'cut.svs')} (for /cut/cut.svs): an empty file (0 bytes) is no slide`));
  assert.doesNotMatch(add.stderr, /good\.svs/);
  const other = cli(home, ['add', 'slides', slides, '--repo', 'cohort2']);
  assert.equal(other.code, 1, 'add slides refuses it into any repo');
  assert.equal(cli(home, ['list', 'commit', 'slides@master']).stdout.trim().split('\n').length, 1, 'no commit');

  const put = cli(home, ['put', 'file', 'slides@master:/cut/cut.svs', '-f', join(slides, 'cut.svs')]);
  assert.equal(put.code, 1, put.stderr);
  assert.match(
    put.stderr,
    /nothing was put into slides:\n {2}\S+cut\.svs \(for \/cut\/cut\.svs\): an empty file \(0 bytes\)/,
  );

  assert.equal(cli(home, ['create', 'repo', 'notes']).code, 0);
  const note = cli(home, ['put', 'file', 'notes@master:/empty.txt', '-f', join(slides, 'cut.svs')]);
  assert.equal(note.code, 0, note.stderr);
});
