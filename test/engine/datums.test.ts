import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { compileGlob, globLiteralPrefix, globPaths, expandCaptures, GlobError } from '../../engine/pfs/glob.js';
import {
  computeDatums,
  datumHash,
  datumId,
  datumInputEnv,
  type FileEntry,
  type Snapshot,
} from '../../engine/pps/datums.js';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import type { Input } from '../../engine/pps/spec/pipeline-spec.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const file = (path: string, content = path): FileEntry => ({ path, hash: sha(content), size: content.length });

/** Repos by name: file paths (content = path unless given). */
function world(repos: Record<string, (string | [string, string])[]>) {
  const snaps = new Map<string, Snapshot>();
  for (const [repo, files] of Object.entries(repos)) {
    snaps.set(repo, {
      repo,
      branch: 'master',
      commit: `${repo}-c1`,
      files: files.map((f) => (Array.isArray(f) ? file(f[0], f[1]) : file(f))),
    });
  }
  return (repo: string, _branch: string): Snapshot => {
    const s = snaps.get(repo);
    if (!s) throw new Error(`no repo ${repo}`);
    return s;
  };
}

/** An input from YAML, through the real spec parser (defaults applied). */
function inputOf(yaml: string): Input {
  const [spec] = parseSpecs(
    `pipeline: {name: p}\ntransform: {cmd: [sh]}\ninput:\n${yaml.replace(/^/gm, '  ')}`,
    't.yaml',
  );
  return spec.input;
}

const paths = (ds: ReturnType<typeof computeDatums>) =>
  ds.map((d) => d.inputs.map((i) => `${i.name}:${i.path}`).join(' '));

// ---------------------------------------------------------------------------------------------------------
// globs

test('glob /* on 100 files and 2 folders gives 102 datums: files and folders match', () => {
  const files = Array.from({ length: 100 }, (_, i) => `/f${String(i).padStart(3, '0')}.txt`);
  files.push('/dirA/x.txt', '/dirA/sub/y.txt', '/dirB/z.txt');
  const snap = world({ data: files });
  const ds = computeDatums(inputOf('pfs: {repo: data, glob: "/*"}'), snap);
  assert.equal(ds.length, 102);
  const dirA = ds.find((d) => d.inputs[0].path === '/dirA')!;
  assert.deepEqual(
    dirA.inputs[0].files.map((f) => f.path),
    ['/dirA/sub/y.txt', '/dirA/x.txt'],
    'a folder datum mounts every file under it',
  );
  const f7 = ds.find((d) => d.inputs[0].path === '/f007.txt')!;
  assert.deepEqual(
    f7.inputs[0].files.map((f) => f.path),
    ['/f007.txt'],
  );
  // `*` without the leading slash is the same glob
  assert.equal(computeDatums(inputOf('pfs: {repo: data, glob: "*"}'), snap).length, 102);
});

test("a glob's literal prefix: every match lies at or under it (a planning pass reads only that range)", () => {
  assert.equal(globLiteralPrefix('/'), '/');
  assert.equal(globLiteralPrefix('/*'), '/');
  assert.equal(globLiteralPrefix('**'), '/');
  assert.equal(globLiteralPrefix('/cohort.json'), '/cohort.json');
  assert.equal(globLiteralPrefix('/normalize/'), '/normalize');
  assert.equal(globLiteralPrefix('/slides/(*).json'), '/slides');
  assert.equal(globLiteralPrefix('/shards/*/*'), '/shards');
  assert.equal(globLiteralPrefix('/a/b\\*c/d'), '/a');
  assert.equal(globLiteralPrefix('/a/{b,c}/d'), '/a');
  for (const [glob, path] of [
    ['/slides/(*).json', '/slides/x.json'],
    ['/a/[bc]', '/a/b'],
    ['/normalize', '/normalize'],
  ] as const) {
    assert.ok(compileGlob(glob).regex.test(path), `${glob} matches ${path}`);
    const pre = globLiteralPrefix(glob);
    assert.ok(path === pre || path.startsWith(pre === '/' ? '/' : pre + '/'), `${path} under ${pre}`);
  }
});

test('glob / is one datum holding the whole repo; an empty repo gives none', () => {
  const snap = world({ data: ['/a/1', '/b/2', '/c'], empty: [] });
  const ds = computeDatums(inputOf('pfs: {repo: data, glob: "/"}'), snap);
  assert.equal(ds.length, 1);
  assert.equal(ds[0].inputs[0].path, '/');
  assert.equal(ds[0].inputs[0].files.length, 3);
  assert.equal(computeDatums(inputOf('pfs: {repo: empty, glob: "/"}'), snap).length, 0);
  assert.equal(computeDatums(inputOf('pfs: {repo: empty, glob: "/*"}'), snap).length, 0);
});

test('glob /** matches every file and folder at any depth; * stays in one level', () => {
  const fl = ['/a/1.svs', '/a/b/2.svs', '/c.svs'];
  assert.deepEqual(
    globPaths(fl, '/**').map((m) => m.path),
    ['/a', '/a/1.svs', '/a/b', '/a/b/2.svs', '/c.svs'],
  );
  assert.deepEqual(
    globPaths(fl, '/*/*').map((m) => m.path),
    ['/a/1.svs', '/a/b'],
  );
  assert.deepEqual(
    globPaths(fl, '/**.svs').map((m) => m.path),
    ['/a/1.svs', '/a/b/2.svs', '/c.svs'],
  );
  assert.deepEqual(
    globPaths(fl, '/*.svs').map((m) => m.path),
    ['/c.svs'],
  );
  assert.deepEqual(
    globPaths(fl, '/a/**').map((m) => m.path),
    ['/a/1.svs', '/a/b', '/a/b/2.svs'],
  );
});

test('glob syntax: ?, classes, negated classes, alternatives, escapes', () => {
  const fl = ['/a1', '/a2', '/b1', '/ab', '/x.tiff', '/x.svs', '/x.ndpi', '/*star'];
  const m = (g: string) => globPaths(fl, g).map((x) => x.path);
  assert.deepEqual(m('/a?'), ['/a1', '/a2', '/ab']);
  assert.deepEqual(m('/[ab]1'), ['/a1', '/b1']);
  assert.deepEqual(m('/a[0-9]'), ['/a1', '/a2']);
  assert.deepEqual(m('/a[!0-9]'), ['/ab']);
  assert.deepEqual(m('/x.{svs,tiff}'), ['/x.svs', '/x.tiff']);
  assert.deepEqual(m('/\\*star'), ['/*star']);
  assert.equal(compileGlob('/?').match('/a/'), null, '? never matches /');
  assert.throws(() => compileGlob('/[abc'), GlobError);
  assert.throws(() => compileGlob('/{a,b'), GlobError);
  assert.throws(() => compileGlob('/(a'), GlobError);
});

test('capture groups: $1, $2 from (...) in the glob', () => {
  const [match] = globPaths(['/patient7/slide-3.svs'], '/(*)/slide-(*).svs');
  assert.deepEqual(match.captures.slice(1), ['patient7', '3']);
  assert.equal(expandCaptures('$2-of-$1', match.captures), '3-of-patient7');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Pachyderm's capture syntax, not a template
  assert.equal(expandCaptures('${1}x', match.captures), 'patient7x');
  assert.throws(() => expandCaptures('$3', match.captures), /capture group \$3/);
});

// ---------------------------------------------------------------------------------------------------------
// combinations

test('cross is the cartesian product; a cross with an empty side is empty', () => {
  const snap = world({ a: ['/1', '/2', '/3'], b: ['/x', '/y'], empty: [] });
  const ds = computeDatums(inputOf('cross:\n  - pfs: {repo: a, glob: "/*"}\n  - pfs: {repo: b, glob: "/*"}'), snap);
  assert.deepEqual(paths(ds), ['a:/1 b:/x', 'a:/1 b:/y', 'a:/2 b:/x', 'a:/2 b:/y', 'a:/3 b:/x', 'a:/3 b:/y']);
  const none = computeDatums(
    inputOf('cross:\n  - pfs: {repo: a, glob: "/*"}\n  - pfs: {repo: empty, glob: "/*"}'),
    snap,
  );
  assert.equal(none.length, 0);
});

test('union concatenates', () => {
  const snap = world({ a: ['/1', '/2'], b: ['/x'] });
  const ds = computeDatums(inputOf('union:\n  - pfs: {repo: a, glob: "/*"}\n  - pfs: {repo: b, glob: "/*"}'), snap);
  assert.deepEqual(paths(ds), ['a:/1', 'a:/2', 'b:/x']);
});

const joinWorld = () =>
  world({
    slides: ['/s1/a.svs', '/s2/b.svs', '/s3/c.svs'],
    detect: ['/s1/tiles.json', '/s2/tiles.json', '/s4/tiles.json'],
  });

test('join (inner) pairs datums whose joinOn values agree', () => {
  const ds = computeDatums(
    inputOf(
      'join:\n  - pfs: {repo: slides, glob: "/(*)", joinOn: "$1"}\n  - pfs: {repo: detect, glob: "/(*)", joinOn: "$1"}',
    ),
    joinWorld(),
  );
  assert.deepEqual(paths(ds), ['slides:/s1 detect:/s1', 'slides:/s2 detect:/s2']);
  assert.equal(ds[0].inputs[0].joinOn, 's1', 'each input carries the resolved key');
});

test('join (outer) keeps the unmatched datums of the outerJoin input only', () => {
  const leftOuter = computeDatums(
    inputOf(
      'join:\n  - pfs: {repo: slides, glob: "/(*)", joinOn: "$1", outerJoin: true}\n  - pfs: {repo: detect, glob: "/(*)", joinOn: "$1"}',
    ),
    joinWorld(),
  );
  assert.deepEqual(paths(leftOuter), ['slides:/s1 detect:/s1', 'slides:/s2 detect:/s2', 'slides:/s3']);
  const fullOuter = computeDatums(
    inputOf(
      'join:\n  - pfs: {repo: slides, glob: "/(*)", joinOn: "$1", outer_join: true}\n  - pfs: {repo: detect, glob: "/(*)", joinOn: "$1", outer_join: true}',
    ),
    joinWorld(),
  );
  assert.deepEqual(paths(fullOuter), ['slides:/s1 detect:/s1', 'slides:/s2 detect:/s2', 'slides:/s3', 'detect:/s4']);
});

test('join (outer) with three inputs: an incomplete key keeps only its outer inputs, as Pachyderm 2.x', () => {
  const snap = world({ a: ['/k1', '/k2', '/k3'], b: ['/k1', '/k2', '/k4'], c: ['/k1'] });
  const ds = computeDatums(
    inputOf(
      'join:\n  - pfs: {repo: a, glob: "/(*)", joinOn: "$1", outerJoin: true}\n  - pfs: {repo: b, glob: "/(*)", joinOn: "$1"}\n  - pfs: {repo: c, glob: "/(*)", joinOn: "$1"}',
    ),
    snap,
  );
  // k1 complete; k2 lacks c: a alone (b is inner, left out); k3: a alone; k4: only the inner b, no datum
  assert.deepEqual(paths(ds), ['a:/k1 b:/k1 c:/k1', 'a:/k2', 'a:/k3']);
});

test('join crosses several matches of one key', () => {
  const snap = world({ a: ['/k1-x', '/k1-y', '/k2-x'], b: ['/k1.csv', '/k2.csv'] });
  const ds = computeDatums(
    inputOf(
      'join:\n  - pfs: {repo: a, glob: "/(*)-*", joinOn: "$1"}\n  - pfs: {repo: b, glob: "/(*).csv", joinOn: "$1"}',
    ),
    snap,
  );
  assert.deepEqual(paths(ds), ['a:/k1-x b:/k1.csv', 'a:/k1-y b:/k1.csv', 'a:/k2-x b:/k2.csv']);
});

test('group makes one datum per groupBy value, across inputs', () => {
  const snap = world({
    tiles: ['/p1-s1', '/p1-s2', '/p2-s3'],
    notes: ['/p1.txt', '/p3.txt'],
  });
  const ds = computeDatums(
    inputOf(
      'group:\n  - pfs: {repo: tiles, glob: "/(*)-*", groupBy: "$1"}\n  - pfs: {repo: notes, glob: "/(*).txt", groupBy: "$1"}',
    ),
    snap,
  );
  assert.deepEqual(paths(ds), ['tiles:/p1-s1 tiles:/p1-s2 notes:/p1.txt', 'tiles:/p2-s3', 'notes:/p3.txt']);
  assert.equal(ds[0].inputs[0].groupBy, 'p1');
});

test("nested: cross of a join and a whole repo (the shape of tessella's specs)", () => {
  const snap = world({
    slides: ['/s1/a', '/s2/b'],
    detect: ['/s1/t', '/s2/t'],
    models: ['/embed/m.onnx', '/normalize/m.onnx'],
  });
  const ds = computeDatums(
    inputOf(
      'cross:\n  - join:\n    - pfs: {repo: slides, glob: "/(*)", joinOn: "$1"}\n    - pfs: {repo: detect, glob: "/(*)", joinOn: "$1"}\n  - pfs: {repo: models, glob: "/embed"}',
    ),
    snap,
  );
  assert.deepEqual(paths(ds), ['slides:/s1 detect:/s1 models:/embed', 'slides:/s2 detect:/s2 models:/embed']);
});

// ---------------------------------------------------------------------------------------------------------
// identity

test('datum ids are stable across commits and content; hashes follow content, paths and salt', () => {
  const input = inputOf('cross:\n  - pfs: {repo: slides, glob: "/*"}\n  - pfs: {repo: models, glob: "/embed"}');
  const v1 = world({
    slides: ['/s1/a.svs', '/s2/b.svs'],
    models: [
      ['/embed/model.onnx', 'v1'],
      ['/normalize/model.onnx', 'n1'],
    ],
  });
  const d1 = computeDatums(input, v1);

  // a new commit with the same files: same ids, same hashes
  const sameContent = world({
    slides: ['/s1/a.svs', '/s2/b.svs'],
    models: [
      ['/embed/model.onnx', 'v1'],
      ['/normalize/model.onnx', 'n1'],
    ],
  });
  const d1b = computeDatums(input, (r, b) => ({ ...sameContent(r, b), commit: 'another' }));
  assert.deepEqual(
    d1b.map((d) => d.id),
    d1.map((d) => d.id),
  );
  assert.deepEqual(
    d1b.map((d) => datumHash(d, 'salt')),
    d1.map((d) => datumHash(d, 'salt')),
  );

  // a change outside the glob (/normalize) changes nothing
  const outside = computeDatums(
    input,
    world({
      slides: ['/s1/a.svs', '/s2/b.svs'],
      models: [
        ['/embed/model.onnx', 'v1'],
        ['/normalize/model.onnx', 'n2'],
      ],
    }),
  );
  assert.deepEqual(
    outside.map((d) => datumHash(d, 'salt')),
    d1.map((d) => datumHash(d, 'salt')),
  );

  // a new embed model: same ids, every hash changes
  const newModel = computeDatums(
    input,
    world({
      slides: ['/s1/a.svs', '/s2/b.svs'],
      models: [
        ['/embed/model.onnx', 'v2'],
        ['/normalize/model.onnx', 'n1'],
      ],
    }),
  );
  assert.deepEqual(
    newModel.map((d) => d.id),
    d1.map((d) => d.id),
  );
  for (let i = 0; i < d1.length; i++) assert.notEqual(datumHash(newModel[i], 'salt'), datumHash(d1[i], 'salt'));

  // one slide's content changes: only its datum's hash changes
  const oneSlide = computeDatums(
    input,
    world({ slides: [['/s1/a.svs', 'changed'], '/s2/b.svs'], models: [['/embed/model.onnx', 'v1']] }),
  );
  assert.notEqual(datumHash(oneSlide[0], 'salt'), datumHash(d1[0], 'salt'));
  assert.equal(datumHash(oneSlide[1], 'salt'), datumHash(d1[1], 'salt'));

  // a file added inside a slide folder, or renamed: the hash changes, the id does not
  const added = computeDatums(
    input,
    world({ slides: ['/s1/a.svs', '/s1/a.mrxs', '/s2/b.svs'], models: [['/embed/model.onnx', 'v1']] }),
  );
  assert.equal(added[0].id, d1[0].id);
  assert.notEqual(datumHash(added[0], 'salt'), datumHash(d1[0], 'salt'));
  const renamed = computeDatums(
    input,
    world({ slides: [['/s1/z.svs', '/s1/a.svs'], '/s2/b.svs'], models: [['/embed/model.onnx', 'v1']] }),
  );
  assert.notEqual(datumHash(renamed[0], 'salt'), datumHash(d1[0], 'salt'));

  // the salt
  assert.notEqual(datumHash(d1[0], 'salt'), datumHash(d1[0], 'other salt'));
});

test('datum ids depend on input names, repos, branches and paths, with unambiguous framing', () => {
  const base = { name: 'in', repo: 'r', branch: 'master', path: '/a' };
  const id = datumId([base]);
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.notEqual(datumId([{ ...base, name: 'in2' }]), id);
  assert.notEqual(datumId([{ ...base, repo: 'r2' }]), id);
  assert.notEqual(datumId([{ ...base, branch: 'dev' }]), id);
  assert.notEqual(datumId([{ ...base, path: '/b' }]), id);
  // lengths framed: "ab" + "c" differs from "a" + "bc"
  assert.notEqual(datumId([{ ...base, name: 'ab', repo: 'c' }]), datumId([{ ...base, name: 'a', repo: 'bc' }]));
});

test('datumInputEnv gives <name> = $PFS_ROOT/<name><path> and <name>_COMMIT', () => {
  const snap = world({ slides: ['/s1/a.svs'], manifest: ['/manifest.csv'] });
  const [d] = computeDatums(
    inputOf('cross:\n  - pfs: {repo: slides, glob: "/*"}\n  - pfs: {repo: manifest, glob: "/"}'),
    snap,
  );
  assert.deepEqual(datumInputEnv(d, '/tmp/pfs/'), {
    slides: '/tmp/pfs/slides/s1',
    slides_COMMIT: 'slides-c1',
    manifest: '/tmp/pfs/manifest/',
    manifest_COMMIT: 'manifest-c1',
  });
});

test('thousands of slides: datums computed quickly and in path order', () => {
  const files: string[] = [];
  for (let i = 0; i < 5000; i++)
    files.push(`/slide${String(i).padStart(5, '0')}/slide.svs`, `/slide${String(i).padStart(5, '0')}/extra.xml`);
  const snap = world({ slides: files.reverse() });
  const ds = computeDatums(inputOf('pfs: {repo: slides, glob: "/*"}'), snap);
  assert.equal(ds.length, 5000);
  assert.equal(ds[0].inputs[0].path, '/slide00000');
  assert.equal(ds[0].inputs[0].files.length, 2);
});
