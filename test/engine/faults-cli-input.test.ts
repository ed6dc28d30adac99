/**
 * Bad command-line input (issue 11, item 7), through the real CLI process: output into a closed pipe ends quietly;
 * every option value and TESSELLA_* variable is checked (zod), the message naming the option or variable and what
 * is allowed; nothing waits forever on a NaN and nothing is stored.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, cliEnv, cliPath, cliSpawn, exited, writeTree } from './_engine-helpers.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';
import { heads } from './_faults-helpers.js';

const tsx = import.meta.resolve('tsx');

/** `tessella ARGS | head -N`, by a real shell pipe: what reaches the terminal on stderr, and the CLI's status. */
function piped(home: string, args: string[], lines: number): Promise<{ stderr: string; status: number }> {
  const cmd = [process.execPath, '--import', tsx, cliPath, ...args].map((a) => `'${a}'`).join(' ');
  return new Promise((resolve) => {
    // PIPESTATUS: the CLI's own exit status, not head's
    const sh = spawn(
      'bash',
      ['-c', `${cmd} 2>"$ERR" | head -${lines} >/dev/null; s=\${PIPESTATUS[0]}; cat "$ERR" >&2; exit $s`],
      {
        cwd: projectRoot,
        env: { ...cliEnv(home), ERR: join(home, '..', `err-${lines}.txt`) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    sh.stderr.on('data', (b) => (stderr += b));
    sh.on('close', (status) => resolve({ stderr, status: status ?? -1 }));
  });
}

describe('faults: CLI input', () => {
  let t: ReturnType<typeof tempDir>;
  let home: string;
  before(() => {
    t = tempDir();
    home = join(t.dir, 'home');
    const files: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) files[`f${i}`] = String(i);
    writeTree(join(t.dir, 'input'), files);
    assert.equal(cli(home, ['create', 'repo', 'x']).code, 0);
    assert.equal(cli(home, ['put', 'file', 'x@master:/', '-r', '-f', join(t.dir, 'input')]).code, 0);
    for (let i = 0; i < 3; i++)
      assert.equal(cli(home, ['put', 'file', `x@master:/more${i}`, '-f', join(t.dir, 'input', 'f1')]).code, 0);
  });
  after(() => t.cleanup());

  test('`list file | head -2`, `list commit | head -1`, `list job | head`: quiet, exit 0', async () => {
    for (const [args, n] of [
      [['list', 'file', 'x@master'], 2],
      [['list', 'commit', 'x@master'], 1],
      [['list', 'file', 'x@master', '-o', 'json'], 1],
    ] as const) {
      const r = await piped(home, [...args], n);
      assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
      assert.equal(r.status, 0);
    }
  });

  test('option values: a count, seconds, -o json; named as typed', () => {
    const cases: [string[], RegExp][] = [
      [['list', 'commit', 'x@master', '-n', 'abc'], /^tessella list commit: -n abc: expected a whole number\n/],
      [['list', 'commit', 'x@master', '--number=-3'], /--number -3: expected a whole number/],
      [
        ['wait', 'commit', 'x@master', '--timeout', 'abc'],
        /^tessella wait commit: --timeout abc: expected a number of seconds \(0 or more, e\.g\. 30 or 0\.5\)\n/,
      ],
      [['list', 'repo', '-o', 'yaml'], /-o yaml: the only output format is json/],
      [['list', 'job', '-p', ''], /-p '': expected a value/],
      [['add', 'slides', t.dir, '--repo', ''], /--repo '': expected a value/],
    ];
    for (const [args, want] of cases) {
      const r = cli(home, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.match(r.stderr, /Usage: tessella /);
    }
  });

  test('TESSELLA_* variables: a bad value fails at once naming it; nothing waits on NaN', async () => {
    const before = heads(home);
    const cases: [Record<string, string>, RegExp][] = [
      [{ TESSELLA_LOCK_TIMEOUT: 'abc' }, /TESSELLA_LOCK_TIMEOUT: expected a number, got 'abc'/],
      [{ TESSELLA_LOCK_TIMEOUT: '-1' }, /TESSELLA_LOCK_TIMEOUT: expected a number >= 0, got '-1'/],
      [{ TESSELLA_MAX_PARALLEL: '0' }, /TESSELLA_MAX_PARALLEL: expected an integer >= 1, got '0'/],
      [{ TESSELLA_GPUS: 'all' }, /TESSELLA_GPUS: expected a count \(2\) or a list of GPU ids \(0,2\), got 'all'/],
      [{ TESSELLA_FSYNC: 'maybe' }, /TESSELLA_FSYNC: expected true\/false \(or 1\/0, yes\/no\), got 'maybe'/],
      [{ TESSELLA_ISOLATION: 'none' }, /TESSELLA_ISOLATION: expected one of auto, namespace, copy, got 'none'/],
      [{ TESSELLA_BUSY_MS: '1.5' }, /TESSELLA_BUSY_MS: expected an integer, got '1.5'/],
    ];
    for (const [env, want] of cases) {
      const r = cli(home, ['run'], { env });
      assert.equal(r.code, 2, JSON.stringify(env));
      assert.match(r.stderr, /^tessella: invalid environment:\n/);
      assert.match(r.stderr, want);
    }
    // a typo is named, not silently ignored
    const typo = cli(home, ['list', 'repo'], { env: { TESSELLA_HOM: '/tmp/x' } });
    assert.equal(typo.code, 0);
    assert.match(typo.stderr, /TESSELLA_HOM: not a tessella variable, ignored \(known: TESSELLA_HOME, /);

    // the lock timeout that used to read "up to NaN s" and wait forever: with a holder, a valid one ends on time
    writeFileSync(
      join(t.dir, 'p.yaml'),
      'pipeline: { name: p }\ninput: { pfs: { repo: x, glob: "/" } }\ntransform:\n  cmd: [sleep, "30"]\n',
    );
    assert.equal(cli(home, ['create', 'pipeline', '-f', join(t.dir, 'p.yaml')]).code, 0);
    const holder = cliSpawn(home, ['run']);
    let held = '';
    holder.stderr!.on('data', (b) => (held += b));
    while (!held.includes('job started')) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const second = cli(home, ['run'], { env: { TESSELLA_LOCK_TIMEOUT: '0.5' } });
    assert.equal(second.code, 75);
    assert.ok(Date.now() - t0 < 30_000);
    assert.match(second.stderr, /is held by tessella pid \d+/);
    const bad = cli(home, ['run'], { env: { TESSELLA_LOCK_TIMEOUT: 'abc' } });
    assert.equal(bad.code, 2);
    assert.doesNotMatch(bad.stderr, /NaN/);
    holder.kill('SIGKILL');
    await exited(holder);
    assert.deepEqual(heads(home).x, before.x, 'nothing stored changed');
  });
});
