/**
 * The verbs added with the CLI's split into engine/cli/ and its verbs (engine/cli/verbs/): paging of list commit and list
 * datum (on the real engine), and the argument errors and help of gc, squash commit and delete commit (their
 * engine functions land separately).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gcSummary } from '../../engine/cli/verbs/gc.js';
import { cli, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('tessella CLI: paging, gc, squash/delete commit', () => {
  let t: ReturnType<typeof tempDir>;
  let home: string;
  const tc = (...args: string[]) => cli(home, args, { cwd: t.dir });
  const ok = (...args: string[]) => {
    const r = tc(...args);
    assert.equal(r.code, 0, `tessella ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  /** commit ids of `in`, newest first */
  let commits: string[];

  before(() => {
    t = tempDir();
    home = join(t.dir, 'home');
    const data = join(t.dir, 'data');
    writeTree(data, { 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie' });
    ok('create', 'repo', 'in');
    for (const f of ['a.txt', 'b.txt', 'c.txt']) ok('put', 'file', `in@master:/${f}`, '-f', join(data, f));
    commits = lines(ok('list', 'commit', 'in', '-o', 'json').stdout).map((c) => c.commit.id);
    assert.equal(commits.length, 3);
  });
  after(() => t.cleanup());

  test('list commit -n N: a full page hints --after on stderr; stdout stays JSON lines', () => {
    const r = ok('list', 'commit', 'in@master', '-n', '2', '-o', 'json');
    assert.deepEqual(
      lines(r.stdout).map((c) => c.commit.id),
      commits.slice(0, 2),
    );
    assert.match(r.stderr, new RegExp(`next page: tessella list commit in@master -n 2 --after ${commits[1]}`));
    // the next page: older than the last one shown; not full, so no hint
    const next = ok('list', 'commit', 'in@master', '-n', '2', '--after', commits[1], '-o', 'json');
    assert.deepEqual(
      lines(next.stdout).map((c) => c.commit.id),
      [commits[2]],
    );
    assert.equal(next.stderr, '');
    // without -n there is no page, hence no hint
    assert.equal(ok('list', 'commit', 'in', '--after', commits[0], '-o', 'json').stderr, '');
    assert.equal(lines(ok('list', 'commit', 'in', '--after', commits[0], '-o', 'json').stdout).length, 2);
    // a commit's ancestry pages the same way
    assert.deepEqual(
      lines(ok('list', 'commit', `in@${commits[0]}`, '--after', commits[0], '-o', 'json').stdout).map(
        (c) => c.commit.id,
      ),
      commits.slice(1),
    );
    // the table: header and one row, the hint on stderr
    const human = ok('list', 'commit', 'in', '--number', '1');
    assert.equal(human.stdout.trim().split('\n').length, 2);
    assert.match(human.stdout, /^REPO\s+BRANCH\s+COMMIT/);
    assert.match(human.stderr, new RegExp(`--after ${commits[0]}`));
  });

  test('list commit / list datum: a count that is not a whole number is a usage error', () => {
    let r = tc('list', 'commit', 'in', '-n', 'two');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /-n two: expected a whole number/);
    assert.match(r.stderr, /Usage: tessella list commit REPO\[@BRANCH\] \[-n\|--number N\] \[--after COMMIT\]/);
    r = tc('list', 'datum', 'p@j', '--limit', '1.5');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--limit 1\.5: expected a whole number/);
  });

  test('list datum --limit N --after DATUM: pages by datum id', () => {
    const spec = join(t.dir, 'copy.yaml');
    writeFileSync(
      spec,
      `pipeline: {name: copy}\ninput: {pfs: {repo: in, glob: "/*"}}\ntransform: {cmd: [sh, -c, "cp $in /pfs/out/"]}\n`,
    );
    ok('create', 'pipeline', '-f', spec);
    ok('run');
    const job = `copy@${lines(ok('list', 'job', '-o', 'json').stdout)[0].job.id}`;
    const all = lines(ok('list', 'datum', job, '-o', 'json').stdout).map((d) => d.datum.id);
    assert.equal(all.length, 3);
    assert.deepEqual(all, [...all].sort(), 'ordered by datum id');

    const first = ok('list', 'datum', job, '--limit', '2', '-o', 'json');
    assert.deepEqual(
      lines(first.stdout).map((d) => d.datum.id),
      all.slice(0, 2),
    );
    assert.match(first.stderr, new RegExp(`next page: tessella list datum ${job} --limit 2 --after ${all[1]}`));
    const rest = ok('list', 'datum', job, '--limit', '2', '--after', all[1], '-o', 'json');
    assert.deepEqual(
      lines(rest.stdout).map((d) => d.datum.id),
      [all[2]],
    );
    assert.equal(rest.stderr, '');
    const human = ok('list', 'datum', job, '--after', all[0]);
    assert.match(human.stdout, /^ID\s+FILES\s+STATUS\s+TIME/);
    assert.equal(human.stdout.trim().split('\n').length, 3);
  });

  test('gc, squash commit, delete commit: help and argument errors', () => {
    const help = ok('help').stdout;
    for (const u of [
      'gc [--dry-run] [-o json]',
      'squash commit REPO@COMMIT',
      'delete commit REPO@COMMIT',
      'add slides DIR',
      'demo ',
      'dataset DIR',
    ]) {
      assert.ok(help.includes(`  ${u}`), `help lists ${u}`);
    }
    let r = ok('gc', '--help');
    assert.match(r.stdout, /^Usage: tessella gc \[--dry-run\] \[-o json\]\n/);
    r = tc('gc', 'now');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tessella gc: gc takes no arguments\nUsage: tessella gc/);
    r = tc('gc', '--force');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown option '--force'/);
    assert.equal(tc('gc', '-o', 'yaml').code, 2);

    r = ok('squash', 'commit', '--help');
    assert.match(r.stdout, /^Usage: tessella squash commit REPO@COMMIT/);
    r = tc('squash', 'commit', 'in');
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /tessella squash commit: in: name the commit \(REPO@COMMIT\)\nUsage: tessella squash commit REPO@COMMIT/,
    );
    r = tc('squash', 'commit', `in@${commits[0]}:/a.txt`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /a commit, not a path/);
    r = tc('delete', 'commit');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tessella delete commit: expected REPO@COMMIT/);
    r = tc('delete', 'commit', '@abc');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tessella delete commit: "@abc": expected REPO\[@BRANCH\|@COMMIT\]\[:PATH\]/);
    // nothing changed
    assert.deepEqual(
      lines(ok('list', 'commit', 'in', '-o', 'json').stdout).map((c) => c.commit.id),
      commits,
    );
  });

  test("gc's summary line", () => {
    const r = {
      blobs_removed: 12,
      bytes_freed: 3.4 * 2 ** 20,
      scratch_removed: 2,
      temp_removed: 1,
      datum_outputs_pruned: 5,
    };
    assert.equal(
      gcSummary(r, false),
      'removed 12 blobs (3.40 MiB), 2 scratch folders, 1 temp file; 5 datum outputs pruned',
    );
    assert.equal(
      gcSummary({ ...r, blobs_removed: 1, bytes_freed: 10, datum_outputs_pruned: 1 }, true),
      'would remove 1 blob (10 B), 2 scratch folders, 1 temp file; 1 datum output would be pruned',
    );
  });
});
