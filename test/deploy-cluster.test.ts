import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const script = join(projectRoot, 'scripts', 'deploy-cluster.sh');

function deploy(args: string[]) {
  const r = spawnSync('bash', [script, ...args], { cwd: projectRoot, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The six stages' shape, files in alphabetical order, one of them snake_case and one JSON. */
const SPECS: Record<string, string> = {
  'embed.yaml': `pipeline: {name: embed}
input: {cross: [{pfs: {repo: normalize, glob: "/*"}}, {pfs: {repo: models, glob: "/embed"}}]}
transform: {image: tessella-gpu:latest, cmd: [node, dist/stages/embed/main.js], env: {BATCH_SIZE: "32"}}
resource_limits: {gpu: {type: nvidia.com/gpu, number: 1}}
`,
  'histogram.yaml': `pipeline: {name: histogram}
input: {pfs: {repo: normalize, glob: "/*"}}
transform: {image: tessella-cpu:latest, cmd: [node, dist/stages/histogram/main.js]}
`,
  'merge.json': JSON.stringify({
    pipeline: { name: 'merge' },
    input: {
      cross: [
        { pfs: { repo: 'manifest', glob: '/' } },
        { pfs: { repo: 'tile-detect', name: 'tile_detect', glob: '/', lazy: true } },
        { pfs: { repo: 'embed', glob: '/' } },
        { pfs: { repo: 'histogram', glob: '/' } },
      ],
    },
    transform: { image: 'tessella-cpu:latest', cmd: ['node', 'dist/stages/merge/main.js'] },
  }),
  'normalize.yaml': `pipeline: {name: normalize}
input: {cross: [{pfs: {repo: tile-extract, name: tile_extract, glob: "/*"}}, {pfs: {repo: models, glob: "/normalize"}}]}
transform: {image: tessella-gpu:latest, cmd: [node, dist/stages/normalize/main.js]}
`,
  'tile-detect.yaml': `pipeline: {name: tile-detect}
input: {pfs: {repo: slides, glob: "/*"}}
transform: {image: tessella-cpu:latest, cmd: [node, dist/stages/tile-detect/main.js]}
`,
  'tile-extract.yaml': `pipeline: {name: tile-extract}
input:
  join:
    - pfs: {repo: slides, glob: "/(*)", join_on: "$1"}
    - pfs: {repo: tile-detect, name: tile_detect, glob: "/(*)", join_on: "$1"}
transform: {image: tessella-cpu:latest, cmd: [node, dist/stages/tile-extract/main.js]}
`,
};

const ORDER = ['tile-detect', 'tile-extract', 'normalize', 'embed', 'histogram', 'merge'];
const GPU = new Set(['normalize', 'embed']);

function withSpecs(fn: (specDir: string, renderDir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'tessella-deploy-test-'));
  try {
    const specDir = join(dir, 'pipelines');
    mkdirSync(specDir);
    for (const [f, text] of Object.entries(SPECS)) writeFileSync(join(specDir, f), text);
    fn(specDir, join(dir, 'rendered'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The pipelines the dry run creates or updates, in order, with the file each comes from. */
function pipelineCommands(out: string): { name: string; file: string }[] {
  return [
    ...out.matchAll(
      /^if pachctl inspect pipeline (\S+) .*; then pachctl update pipeline -f (\S+); else pachctl create pipeline -f \2; fi$/gm,
    ),
  ].map((m) => ({ name: m[1], file: m[2] }));
}

test('deploy --dry-run: images built and pushed, repos created when absent, pipelines in DAG order with the pushed images', () => {
  withSpecs((specDir, renderDir) => {
    const r = deploy([
      '--registry',
      'registry.example.org/lab/',
      '--tag',
      'v7',
      '--dry-run',
      '--pipelines',
      specDir,
      '--render-dir',
      renderDir,
    ]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines.slice(0, 8), [
      `cd ${projectRoot.replace(/\/$/, '')}`,
      'docker build -f docker/Dockerfile.cpu -t registry.example.org/lab/tessella-cpu:v7 .',
      'docker push registry.example.org/lab/tessella-cpu:v7',
      'docker build -f docker/Dockerfile.gpu -t registry.example.org/lab/tessella-gpu:v7 .',
      'docker push registry.example.org/lab/tessella-gpu:v7',
      'pachctl inspect repo slides >/dev/null 2>&1 || pachctl create repo slides',
      'pachctl inspect repo manifest >/dev/null 2>&1 || pachctl create repo manifest',
      'pachctl inspect repo models >/dev/null 2>&1 || pachctl create repo models',
    ]);
    const pipes = pipelineCommands(r.out);
    assert.deepEqual(
      pipes.map((p) => p.name),
      ORDER,
    );
    assert.equal(lines.length, 8 + ORDER.length, 'nothing else is run');
    for (const p of pipes) {
      const spec = JSON.parse(readFileSync(p.file, 'utf8'));
      assert.equal(spec.pipeline.name, p.name);
      const want = `registry.example.org/lab/tessella-${GPU.has(p.name) ? 'gpu' : 'cpu'}:v7`;
      assert.equal(spec.transform.image, want, `${p.name}'s rendered image`);
      assert.match(r.out, new RegExp(`# pipeline ${p.name} \\(image ${want.replace(/[.]/g, '\\.')}, user 1000, from `));
      assert.equal(spec.transform.user, '1000', `${p.name}: a spec without transform.user runs as the images' uid`);
    }
    // the rest of the spec is carried as written, in camelCase (env keys untouched)
    const embed = JSON.parse(readFileSync(pipes.find((p) => p.name === 'embed')!.file, 'utf8'));
    assert.deepEqual(embed.transform.env, { BATCH_SIZE: '32' });
    assert.deepEqual(embed.resourceLimits, { gpu: { type: 'nvidia.com/gpu', number: 1 } });
    const extract = JSON.parse(readFileSync(pipes.find((p) => p.name === 'tile-extract')!.file, 'utf8'));
    assert.equal(extract.input.join[0].pfs.joinOn, '$1');
  });
});

test('deploy --user: a uid for every pipeline, none to drop it; a name or root is refused, saying why', () => {
  withSpecs((specDir, renderDir) => {
    const users = (args: string[]): (string | undefined)[] => {
      const r = deploy([
        '--registry',
        'r',
        '--tag',
        't',
        '--dry-run',
        '--pipelines',
        specDir,
        '--render-dir',
        renderDir,
        ...args,
      ]);
      assert.equal(r.code, 0, r.err);
      return pipelineCommands(r.out).map((p) => JSON.parse(readFileSync(p.file, 'utf8')).transform.user);
    };
    assert.deepEqual(
      users(['--user', '2000']),
      ORDER.map(() => '2000'),
    );
    assert.deepEqual(
      users(['--user', 'none']),
      ORDER.map(() => undefined),
    );
    const byName = deploy(['--registry', 'r', '--dry-run', '--user', 'node', '--pipelines', specDir]);
    assert.equal(byName.code, 2);
    assert.match(byName.err, /--user node: a numeric uid is needed: Pachyderm builds the pod's security context/);
    assert.match(deploy(['--registry', 'r', '--dry-run', '--user', '0', '--pipelines', specDir]).err, /runAsNonRoot/);
    // a spec's own transform.user is kept, and checked
    writeFileSync(join(specDir, 'histogram.yaml'), SPECS['histogram.yaml'].replace('cmd:', 'user: "4242", cmd:'));
    assert.equal(users([])[ORDER.indexOf('histogram')], '4242');
    writeFileSync(join(specDir, 'histogram.yaml'), SPECS['histogram.yaml'].replace('cmd:', 'user: "0", cmd:'));
    const root = deploy(['--registry', 'r', '--dry-run', '--pipelines', specDir, '--render-dir', renderDir]);
    assert.equal(root.code, 1);
    assert.match(root.err, /histogram\.yaml \(pipeline histogram\): transform\.user 0: .*runAsNonRoot/);
  });
});

test('deploy --gpu-image-only builds only the GPU image and updates only the GPU pipelines', () => {
  withSpecs((specDir, renderDir) => {
    const r = deploy([
      '--registry',
      'reg',
      '--tag',
      't',
      '--dry-run',
      '--gpu-image-only',
      '--pipelines',
      specDir,
      '--render-dir',
      renderDir,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /tessella-cpu/);
    assert.match(r.out, /^docker build -f docker\/Dockerfile\.gpu -t reg\/tessella-gpu:t \.$/m);
    assert.deepEqual(
      pipelineCommands(r.out).map((p) => p.name),
      ['normalize', 'embed'],
    );
  });
});

test('deploy: usage errors and spec errors are clear, and nothing runs', () => {
  const noRegistry = deploy(['--dry-run']);
  assert.equal(noRegistry.code, 2);
  assert.match(noRegistry.err, /--registry is required/);
  assert.match(deploy(['--registry', 'r', '--bogus']).err, /unknown argument --bogus/);
  assert.match(deploy(['--registry', 'r', '--tag', 'bad tag']).err, /a Docker tag is/);
  withSpecs((specDir, renderDir) => {
    writeFileSync(
      join(specDir, 'extra.yaml'),
      'pipeline: {name: extra}\ninput: {pfs: {repo: nowhere, glob: "/*"}}\ntransform: {image: x, cmd: [sh]}\n',
    );
    const r = deploy(['--registry', 'r', '--dry-run', '--pipelines', specDir, '--render-dir', renderDir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /extra\.yaml \(pipeline extra\): input\.pfs\.repo: input repo "nowhere" is neither a repo/);
    assert.equal(r.out, '');
  });
});

test("deploy --dry-run over the project's own pipelines/", {
  skip:
    !existsSync(join(projectRoot, 'pipelines')) ||
    readdirSync(join(projectRoot, 'pipelines')).filter((f) => /\.(ya?ml|json)$/.test(f)).length === 0
      ? 'pipelines/ has no specs yet'
      : false,
}, () => {
  const renderDir = mkdtempSync(join(tmpdir(), 'tessella-deploy-own-'));
  try {
    const r = deploy(['--registry', 'reg.example', '--tag', 'x1', '--dry-run', '--render-dir', renderDir]);
    assert.equal(r.code, 0, r.err);
    const pipes = pipelineCommands(r.out);
    assert.ok(pipes.length > 0);
    const known = ORDER.filter((n) => pipes.some((p) => p.name === n));
    assert.deepEqual(
      pipes.map((p) => p.name).filter((n) => ORDER.includes(n)),
      known,
      'the stages come in DAG order',
    );
    const names = pipes.map((p) => p.name);
    const specs = readdirSync(join(projectRoot, 'pipelines')).filter((f) => /\.(ya?ml|json)$/.test(f));
    assert.equal(names.length, specs.length, 'every spec is deployed');
    for (const [before, after] of [
      ['manifest-mpp', 'tile-detect'],
      ['merge-assign', 'merge-slide'],
    ]) {
      if (names.includes(before) && names.includes(after))
        assert.ok(names.indexOf(before) < names.indexOf(after), `${before} before ${after}, which reads it`);
    }
    for (const p of pipes) {
      const { image, user } = JSON.parse(readFileSync(p.file, 'utf8')).transform;
      assert.match(
        image,
        /^reg\.example\/tessella-(cpu|gpu):x1$/,
        `${p.name}: every spec uses a tessella image placeholder`,
      );
      assert.equal(user, '1000', `${p.name}: runs as the images' uid (transform.user)`);
    }
  } finally {
    rmSync(renderDir, { recursive: true, force: true });
  }
});
