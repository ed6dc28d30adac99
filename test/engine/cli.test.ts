import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('tessella CLI', () => {
  let t: ReturnType<typeof tempDir>;
  let home: string;
  let data: string;
  const tc = (...args: string[]) => cli(home, args, { cwd: t.dir });
  const ok = (...args: string[]) => {
    const r = tc(...args);
    assert.equal(r.code, 0, `tessella ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  before(() => {
    t = tempDir();
    home = join(t.dir, 'home');
    data = join(t.dir, 'data');
    writeTree(data, { 'a.txt': 'alpha', 'b.txt': 'bravo', 'dir/c.txt': 'charlie', 'dir/sub/d.txt': 'delta' });
  });
  after(() => t.cleanup());

  test('put file (a file, a folder with -r, several -f), list/glob/get file, commits', () => {
    ok('create', 'repo', 'in');
    ok('put', 'file', 'in@master:/x/a.txt', '-f', join(data, 'a.txt'));
    ok('put', 'file', 'in@master:/d', '-r', '-f', join(data, 'dir'));
    ok('put', 'file', 'in@master:/many/', '-f', join(data, 'a.txt'), '-f', join(data, 'b.txt'));
    const commits = lines(ok('list', 'commit', 'in', '-o', 'json').stdout);
    assert.equal(commits.length, 3, 'one commit per put');
    assert.equal(commits[0].parent, commits[1].commit.id);
    assert.equal(commits[0].files, 5);

    const files = lines(ok('list', 'file', 'in@master:/', '-o', 'json').stdout);
    assert.deepEqual(
      files.map((f) => [f.file.path, f.type]),
      [
        ['/d', 'dir'],
        ['/many', 'dir'],
        ['/x', 'dir'],
      ],
    );
    assert.match(ok('list', 'file', 'in@master:/d').stdout, /\/d\/sub\/\s+dir/);
    const globbed = lines(ok('glob', 'file', 'in@master:/d/**', '-o', 'json').stdout).map((f) => f.file.path);
    assert.deepEqual(globbed, ['/d/c.txt', '/d/sub', '/d/sub/d.txt']);
    assert.equal(ok('get', 'file', 'in@master:/many/b.txt').stdout, 'bravo');
    assert.equal(ok('get', 'file', 'in@master^2:/x/a.txt').stdout, 'alpha');
    ok('get', 'file', 'in@master:/d', '-r', '-o', join(t.dir, 'got'));
    assert.equal(readFileSync(join(t.dir, 'got', 'sub', 'd.txt'), 'utf8'), 'delta');
    // the first commit has one file only
    assert.equal(lines(ok('list', 'file', `in@${commits[2].commit.id}:/x`, '-o', 'json').stdout).length, 1);
    const inspected = JSON.parse(ok('inspect', 'commit', 'in@master^', '-o', 'json').stdout);
    assert.equal(inspected.commit.id, commits[1].commit.id);
    ok('delete', 'file', 'in@master:/many');
    assert.equal(lines(ok('list', 'commit', 'in', '-o', 'json').stdout)[0].files, 3);
    const repos = lines(ok('list', 'repo', '-o', 'json').stdout);
    assert.deepEqual(
      repos.map((r) => r.repo.name),
      ['in'],
    );
  });

  test('errors: missing repo, "..", folder without -r, unknown verb; nothing changes', () => {
    const before = tc('list', 'commit', 'in', '-o', 'json').stdout;
    let r = tc('put', 'file', 'nope@master:/a', '-f', join(data, 'a.txt'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /repo "nope" not found/);
    r = tc('put', 'file', 'in@master:/a/../../b', '-f', join(data, 'a.txt'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /"\.\." segment: paths must stay inside the repo/);
    r = tc('put', 'file', 'in@master:/dir', '-f', join(data, 'dir'));
    assert.match(r.stderr, /use -r/);
    r = tc('frobnicate', 'repo');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown verb/);
    r = tc('list', 'repo', '-o', 'yaml');
    assert.equal(r.code, 2);
    assert.equal(tc('list', 'commit', 'in', '-o', 'json').stdout, before);
  });

  test('pipelines: create, run, jobs, datums, logs, update --reprocess, delete; spec errors', () => {
    const specs = join(t.dir, 'specs');
    mkdirSync(specs);
    const good = join(specs, 'copy.yaml');
    writeFileSync(
      good,
      `pipeline: {name: copy}
input: {pfs: {repo: in, glob: "/d/*"}}
transform:
  cmd: [sh]
  stdin:
    - echo "copying $in"
    - cp -r $in /pfs/out/
`,
    );
    writeFileSync(
      join(specs, 'unknown.yaml'),
      `pipeline: {name: bad}\ninput: {pfs: {repo: nowhere, glob: "/*"}}\ntransform: {cmd: [sh]}\n`,
    );
    writeFileSync(
      join(specs, 'nocmd.json'),
      JSON.stringify({
        pipeline: { name: 'bad2' },
        input: { pfs: { repo: 'in', glob: '/*' } },
        transform: { image: 'x' },
      }),
    );
    writeFileSync(
      join(specs, 'cycle.yaml'),
      `pipeline: {name: p1}\ninput: {pfs: {repo: p2, glob: "/*"}}\ntransform: {cmd: [sh]}\n---\npipeline: {name: p2}\ninput: {pfs: {repo: p1, glob: "/*"}}\ntransform: {cmd: [sh]}\n`,
    );
    let r = tc('create', 'pipeline', '-f', join(specs, 'unknown.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown\.yaml.*input repo "nowhere"/);
    r = tc('create', 'pipeline', '-f', join(specs, 'nocmd.json'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nocmd\.json.*transform\.cmd/);
    r = tc('create', 'pipeline', '-f', join(specs, 'cycle.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cycle: p\d -> p\d -> p\d/);
    assert.equal(tc('list', 'pipeline', '-o', 'json').stdout.trim(), '', 'nothing was created');

    ok('create', 'pipeline', '-f', good);
    r = tc('run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /"event":"job succeeded"/);
    const jobs = lines(ok('list', 'job', '-o', 'json').stdout);
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].state, 'success');
    assert.equal(jobs[0].data_processed, 2);
    const jobRef = `copy@${jobs[0].job.id}`;
    const datums = lines(ok('list', 'datum', jobRef, '-o', 'json').stdout);
    assert.equal(datums.length, 2);
    const d = JSON.parse(ok('inspect', 'datum', jobRef, datums[0].datum.id, '-o', 'json').stdout);
    assert.equal(d.state, 'success');
    assert.ok(d.output_files.length >= 1);
    assert.equal(JSON.parse(ok('inspect', 'job', jobRef, '-o', 'json').stdout).output_commit.id, jobs[0].job.id);
    assert.match(ok('logs', '-p', 'copy').stdout, /copying .*\/in\/d\/c\.txt/);
    assert.deepEqual(
      lines(ok('glob', 'file', 'copy@master:/**', '-o', 'json').stdout).map((f) => f.file.path),
      ['/c.txt', '/sub', '/sub/d.txt'],
    );
    assert.equal(JSON.parse(ok('wait', 'commit', 'copy@master', '-o', 'json').stdout).commit.id, jobs[0].job.id);
    // nothing due: run says so
    assert.match(ok('run').stderr, /nothing to do/);

    ok('update', 'pipeline', '-f', good, '--reprocess');
    ok('run');
    const j2 = lines(ok('list', 'job', '-p', 'copy', '-o', 'json').stdout)[0];
    assert.equal(j2.data_processed, 2);
    assert.equal(JSON.parse(ok('inspect', 'pipeline', 'copy', '-o', 'json').stdout).version, 2);

    r = tc('delete', 'repo', 'in');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /input of pipeline\(s\) copy/);
    ok('delete', 'pipeline', 'copy');
    assert.deepEqual(
      lines(ok('list', 'repo', '-o', 'json').stdout).map((x) => x.repo.name),
      ['in'],
    );
  });

  test('a failed job: run exits non-zero naming the datum and its log', () => {
    const spec = join(t.dir, 'fail.yaml');
    writeFileSync(
      spec,
      `pipeline: {name: fails}\ninput: {pfs: {repo: in, glob: "/x"}}\ndatumTries: 1\ntransform: {cmd: [sh, -c, "echo broken >&2; exit 7"]}\n`,
    );
    ok('create', 'pipeline', '-f', spec);
    const r = tc('run');
    assert.equal(r.code, 1);
    const datum = lines(
      tc('list', 'datum', `fails@${lines(ok('list', 'job', '-o', 'json').stdout)[0].job.id}`, '-o', 'json').stdout,
    )[0];
    assert.match(r.stderr, new RegExp(`datum ${datum.datum.id}: exit code 7`));
    assert.ok(r.stderr.includes(`log: ${datum.log}`));
    assert.match(readFileSync(datum.log, 'utf8'), /broken/);
    ok('delete', 'pipeline', 'fails');
  });

  test('init creates the input repos and the pipelines of a folder; idempotent; add slides makes one commit', () => {
    const pipes = join(t.dir, 'pipelines');
    mkdirSync(pipes);
    const specText = (extra: string) =>
      `pipeline: {name: detect}\ninput: {pfs: {repo: slides, glob: "/*"}}\ntransform: {cmd: [sh], stdin: ["ls $slides > /pfs/out/$(basename $slides).txt"${extra}]}\n`;
    writeFileSync(join(pipes, 'detect.yaml'), specText(''));
    let r = ok('init', '--pipelines', pipes);
    assert.match(r.stdout, /created repo slides/);
    assert.match(r.stdout, /created pipeline detect/);
    r = ok('init', '--pipelines', pipes);
    assert.match(r.stdout, /unchanged: detect/);
    writeFileSync(join(pipes, 'detect.yaml'), specText(', "true"'));
    r = ok('init', '--pipelines', pipes);
    assert.match(r.stdout, /updated pipeline detect/);
    assert.deepEqual(
      lines(ok('list', 'repo', '-o', 'json').stdout)
        .map((x) => x.repo.name)
        .sort(),
      ['detect', 'in', 'manifest', 'models', 'slides'],
    );

    const cohort = join(t.dir, 'cohort');
    writeTree(cohort, {
      'S1.svs': 'slide one',
      'S2.ome.tiff': 'slide two',
      'S3/S3.dcm': 'dicom part',
      'S3/more.dcm': 'dicom part 2',
      'M1.mrxs': 'mirax index',
      'M1/Data0001.dat': 'mirax data',
      '.DS_Store': 'junk',
    });
    ok('add', 'slides', cohort);
    const commits = lines(ok('list', 'commit', 'slides', '-o', 'json').stdout);
    assert.equal(commits.length, 1);
    assert.deepEqual(
      lines(ok('glob', 'file', 'slides@master:/**', '-o', 'json').stdout)
        .filter((f) => f.type === 'file')
        .map((f) => f.file.path),
      ['/M1/M1.mrxs', '/M1/M1/Data0001.dat', '/S1/S1.svs', '/S2/S2.ome.tiff', '/S3/S3.dcm', '/S3/more.dcm'],
    );
    ok('run');
    assert.deepEqual(
      lines(ok('list', 'file', 'detect@master', '-o', 'json').stdout).map((f) => f.file.path),
      ['/M1.txt', '/S1.txt', '/S2.txt', '/S3.txt'],
    );
  });
});
