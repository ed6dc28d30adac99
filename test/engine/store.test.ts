import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRepo, deleteRepo } from '../../engine/pfs/repos.js';
import { deleteFiles, expandPutItems, putFiles } from '../../engine/pfs/put-files.js';
import { filesOf, listCommits, resolveCommit } from '../../engine/pfs/commits.js';
import { getFile, globFile, listFile } from '../../engine/pfs/read-files.js';
import { normalizePath, parseRepoRef } from '../../engine/pfs/names.js';
import { Store, StoreError } from '../../engine/store/store.js';
import { ownerAlive, ownerPrefix } from '../../engine/store/proc.js';
import { writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

describe('store and pfs', () => {
  let t: ReturnType<typeof tempDir>;
  let store: Store;
  let local: string;
  before(() => {
    t = tempDir();
    local = join(t.dir, 'local');
    writeTree(local, {
      'a.txt': 'alpha',
      'b.txt': 'beta',
      'dir/x.txt': 'x',
      'dir/sub/y.txt': 'y',
      'same1.txt': 'same content',
      'same2.txt': 'same content',
    });
    store = Store.open(join(t.dir, 'home'));
  });
  after(() => {
    store.close();
    t.cleanup();
  });

  test('a new store has the layout and WAL', () => {
    for (const d of ['blobs', 'tmp', 'scratch', 'logs', 'meta.sqlite']) assert.ok(existsSync(join(store.home, d)), d);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  });

  test('put of one file, a folder and several files are one commit each, with parents', async () => {
    createRepo(store, 'r');
    const c1 = await putFiles(store, 'r', 'master', [{ local: join(local, 'a.txt'), path: '/a.txt' }]);
    assert.equal(c1.parent, null);
    const c2 = await putFiles(store, 'r', 'master', expandPutItems([{ local: join(local, 'dir'), dest: '/d' }], true));
    assert.equal(c2.parent, c1.id);
    assert.deepEqual(
      filesOf(store, c2.seq).map((f) => f.path),
      ['/a.txt', '/d/sub/y.txt', '/d/x.txt'],
    );
    const c3 = await putFiles(store, 'r', 'master', [
      { local: join(local, 'b.txt'), path: '/many/b.txt' },
      { local: join(local, 'same1.txt'), path: '/many/s1' },
      { local: join(local, 'same2.txt'), path: '/many/s2' },
    ]);
    assert.equal(c3.parent, c2.id);
    assert.equal(c3.n_files, 6);
    assert.equal(listCommits(store, 'r').length, 3);
  });

  test('contents are stored once, read-only, under their sha256', () => {
    const head = resolveCommit(store, 'r', 'master');
    const files = filesOf(store, head.seq);
    const s1 = files.find((f) => f.path === '/many/s1')!;
    const s2 = files.find((f) => f.path === '/many/s2')!;
    assert.equal(s1.hash, s2.hash);
    assert.equal(s1.hash, createHash('sha256').update('same content').digest('hex'));
    const blob = store.blobs.pathOf(s1.hash);
    assert.equal(readFileSync(blob, 'utf8'), 'same content');
    assert.equal(statSync(blob).mode & 0o222, 0, 'blobs are read-only');
    const all = readdirSync(join(store.home, 'blobs')).flatMap((d) => readdirSync(join(store.home, 'blobs', d)));
    assert.equal(new Set(all).size, all.length);
    assert.equal(all.length, 5); // alpha, beta, x, y, same content: a.txt once although 3 commits hold it
  });

  test('refs: branch, commit id, prefix, ancestors', () => {
    const commits = listCommits(store, 'r');
    assert.equal(resolveCommit(store, 'r', 'master').id, commits[0].id);
    assert.equal(resolveCommit(store, 'r', 'master^').id, commits[1].id);
    assert.equal(resolveCommit(store, 'r', 'master^2').id, commits[2].id);
    assert.equal(resolveCommit(store, 'r', 'master~1').id, commits[1].id);
    assert.equal(resolveCommit(store, 'r', 'master^^').id, commits[2].id);
    assert.equal(resolveCommit(store, 'r', commits[1].id).id, commits[1].id);
    assert.equal(resolveCommit(store, 'r', commits[1].id.slice(0, 10)).id, commits[1].id);
    assert.equal(resolveCommit(store, 'r', `${commits[0].id}^2`).id, commits[2].id);
    assert.throws(() => resolveCommit(store, 'r', 'master^3'), /ancestor/);
    assert.throws(() => resolveCommit(store, 'r', 'nosuch'), /no branch or commit/);
    assert.throws(() => resolveCommit(store, 'nosuch', 'master'), /repo "nosuch" not found/);
    assert.deepEqual(parseRepoRef('r@master^2:/a/b'), { repo: 'r', ref: 'master^2', path: '/a/b' });
    assert.deepEqual(parseRepoRef('r'), { repo: 'r', ref: 'master', path: undefined });
  });

  test('list, glob and get at a ref', async () => {
    const head = resolveCommit(store, 'r', 'master');
    assert.deepEqual(
      listFile(store, head, '/').map((e) => [e.path, e.type]),
      [
        ['/a.txt', 'file'],
        ['/d', 'dir'],
        ['/many', 'dir'],
      ],
    );
    assert.deepEqual(
      listFile(store, head, '/d').map((e) => e.path),
      ['/d/sub', '/d/x.txt'],
    );
    assert.deepEqual(
      globFile(store, head, '/*').map((e) => e.path),
      ['/a.txt', '/d', '/many'],
    );
    assert.deepEqual(
      globFile(store, head, '/d/**').map((e) => e.path),
      ['/d/sub', '/d/sub/y.txt', '/d/x.txt'],
    );
    const old = resolveCommit(store, 'r', 'master^2');
    assert.deepEqual(
      listFile(store, old, '/').map((e) => e.path),
      ['/a.txt'],
    );
    const out = join(t.dir, 'got');
    await getFile(store, head, '/d', out, true);
    assert.equal(readFileSync(join(out, 'sub/y.txt'), 'utf8'), 'y');
    await getFile(store, head, '/a.txt', join(t.dir, 'a-copy.txt'), false);
    assert.equal(readFileSync(join(t.dir, 'a-copy.txt'), 'utf8'), 'alpha');
    writeFileSync(join(t.dir, 'a-copy.txt'), "the copy is the user's to modify");
    assert.equal(readFileSync(store.blobs.pathOf(filesOf(store, head.seq)[0].hash), 'utf8'), 'alpha');
    await assert.rejects(getFile(store, head, '/d', out, false), /is a folder: use -r/);
  });

  test('delete file and folder make one commit; a missing path is an error', () => {
    const before = listCommits(store, 'r').length;
    const c = deleteFiles(store, 'r', 'master', ['/d', '/many/s1']);
    assert.deepEqual(
      filesOf(store, c.seq).map((f) => f.path),
      ['/a.txt', '/many/b.txt', '/many/s2'],
    );
    assert.equal(listCommits(store, 'r').length, before + 1);
    assert.throws(() => deleteFiles(store, 'r', 'master', ['/nope']), /no such file/);
    assert.equal(listCommits(store, 'r').length, before + 1);
  });

  test('bad puts are clear errors and change nothing', async () => {
    const before = listCommits(store, 'r').length;
    const head = resolveCommit(store, 'r', 'master').id;
    await assert.rejects(
      putFiles(store, 'missing', 'master', [{ local: join(local, 'a.txt'), path: '/a' }]),
      /repo "missing" not found/,
    );
    await assert.rejects(
      putFiles(store, 'r', 'master', [{ local: join(local, 'a.txt'), path: '/x/../../etc' }]),
      /"\.\." segment/,
    );
    assert.throws(() => normalizePath('../a'), StoreError);
    // a file where a folder is, and a file under a file
    await assert.rejects(
      putFiles(store, 'r', 'master', [{ local: join(local, 'a.txt'), path: '/many' }]),
      /is a folder/,
    );
    await assert.rejects(
      putFiles(store, 'r', 'master', [{ local: join(local, 'a.txt'), path: '/a.txt/under' }]),
      /is a file/,
    );
    assert.throws(() => expandPutItems([{ local: join(local, 'dir'), dest: '/d' }], false), /use -r/);
    assert.throws(() => expandPutItems([{ local: join(local, 'nope'), dest: '/d' }], false), /no such file/);
    assert.equal(listCommits(store, 'r').length, before);
    assert.equal(resolveCommit(store, 'r', 'master').id, head);
  });

  test('repos: duplicate and invalid names, delete', () => {
    assert.throws(() => createRepo(store, 'r'), /already exists/);
    assert.throws(() => createRepo(store, 'bad name'), /invalid repo name/);
    createRepo(store, 'gone');
    deleteRepo(store, 'gone');
    assert.throws(() => deleteRepo(store, 'gone'), /not found/);
  });

  test('temp files of dead processes are removed when the store opens', () => {
    const stale = join(store.home, 'tmp', '999999999-deadbeef');
    writeFileSync(stale, 'half a blob');
    const mine = join(store.home, 'tmp', `${process.pid}-inflight`);
    writeFileSync(mine, 'being written');
    const again = Store.open(store.home);
    again.close();
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(mine), true);
  });
});

test("temp and scratch entries belong to a pid and its start time: a reused pid does not keep a dead owner's", () => {
  const t = tempDir();
  const s = Store.open(join(t.dir, 'home'));
  try {
    const [pid, start] = ownerPrefix.split('-');
    const mine = join(s.scratchDir, `${ownerPrefix}aaaa`);
    // Same pid as a live process (this one), another start time: its owner is gone.
    const reused = join(s.scratchDir, `${pid}-${Number(start) + 1}-bbbb`);
    const deadTemp = join(s.blobs.tmp, `${pid}-${Number(start) + 1}-cccc`);
    for (const d of [mine, reused]) mkdirSync(d);
    writeFileSync(deadTemp, 'partial');
    assert.equal(ownerAlive(`${ownerPrefix}x`), true);
    assert.equal(ownerAlive(`${pid}-${Number(start) + 1}-x`), false);
    s.cleanScratch();
    s.blobs.cleanTemp();
    assert.equal(existsSync(mine), true, 'a live owner keeps its scratch folder');
    assert.equal(existsSync(reused), false);
    assert.equal(existsSync(deadTemp), false);
  } finally {
    s.close();
    t.cleanup();
  }
});

test('an adopted file is stored under the sha256 of its bytes, whatever its size against the read chunks', async () => {
  const t = tempDir();
  const s = Store.open(join(t.dir, 'home'));
  try {
    const MiB = 1 << 20;
    // empty, within one chunk, at a chunk's edge, and over several chunks read into two buffers in turn
    for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 12_345]) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 131 + (i >> 20) * 7) & 255;
      const src = join(t.dir, `out-${size}`);
      writeFileSync(src, bytes);
      const ref = await s.blobs.adoptFile(src);
      assert.deepEqual(ref, { hash: createHash('sha256').update(bytes).digest('hex'), size }, `${size} bytes`);
      assert.ok(readFileSync(s.blobs.pathOf(ref.hash)).equals(bytes), `${size} bytes: the blob holds the file`);
    }
  } finally {
    s.close();
    t.cleanup();
  }
});
