/**
 * A read verb on a path with no store (a mistyped TESSELLA_HOME) says `no tessella store at X (TESSELLA_HOME)` and
 * leaves nothing there; a writing verb creates the store as before.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { cli, cliPath } from './_engine-helpers.js';

const t = tempDir('store-missing');
after(() => t.cleanup());

test('read verbs refuse a path with no store and create nothing; create repo makes one', () => {
  const home = join(t.dir, 'mistyped');
  for (const args of [
    ['list', 'repo'],
    ['inspect', 'repo', 'merge'],
    ['list', 'commit', 'merge@master'],
    ['list', 'file', 'merge@master:/'],
    ['get', 'file', 'merge@master:/dataset.json'],
    ['list', 'pipeline'],
    ['list', 'job'],
    ['logs', '-p', 'merge'],
  ]) {
    const r = cli(home, args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`no tessella store at ${home} (TESSELLA_HOME)`), `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /not found/);
    assert.equal(existsSync(home), false, `${args.join(' ')} left no folder behind`);
  }
  const created = cli(home, ['create', 'repo', 'in']);
  assert.equal(created.code, 0, created.stderr);
  const listed = cli(home, ['list', 'repo']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /\bin\b/);
});

test('without TESSELLA_HOME the message says where the default store is', () => {
  const env = { ...process.env, TESSELLA_LOG_FORMAT: 'json' };
  delete env.TESSELLA_HOME;
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), cliPath, 'list', 'repo'], {
    cwd: t.dir,
    env,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /no tessella store at \S+\/\.tessella \(TESSELLA_HOME is not set, so the store is \.\/\.tessella/,
  );
  assert.equal(existsSync(join(t.dir, '.tessella')), false);
});
