/**
 * What can be checked of the images without a Docker engine: every path a Dockerfile copies from the build
 * context exists and is not excluded by .dockerignore; the install and build commands are the ones the set-up
 * script runs; each image runs the stages the specs name (CPU image: every CPU stage, GPU image: the GPU stages);
 * the final stages hold no build tools or build-time settings and run as the specs' transform.user; the pruning
 * script, run on copies of the real packages, leaves them loadable and drops the leftovers.
 * (The images themselves are built and run by scripts/check-images, which needs a builder and minutes.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const dockerfiles = readdirSync(join(root, 'docker')).filter((f) => f.startsWith('Dockerfile'));
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Instructions with line continuations joined. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

test('there is a CPU and a GPU image', () => {
  assert.deepEqual(dockerfiles.sort(), ['Dockerfile.cpu', 'Dockerfile.gpu']);
});

for (const file of dockerfiles) {
  const steps = instructions(readFileSync(join(root, 'docker', file), 'utf8'));

  test(`${file}: every COPY from the build context exists and is not .dockerignored`, () => {
    const copies = steps.filter((s) => s.op === 'COPY' && !s.args.startsWith('--from'));
    assert.ok(copies.length > 0);
    for (const c of copies) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(join(root, src)), `${file}: COPY ${src}: no such path in the repository`);
        const top = src.split('/')[0];
        assert.ok(
          !ignored.includes(top) && !ignored.includes(src),
          `${file}: COPY ${src} is excluded by .dockerignore`,
        );
      }
    }
  });

  test(`${file}: installs and builds as scripts/setup does, and runs as a non-root user`, () => {
    const runs = steps
      .filter((s) => s.op === 'RUN')
      .map((s) => s.args)
      .join('\n');
    const setup = readFileSync(join(root, 'scripts', 'setup'), 'utf8');
    assert.match(runs, /npm ci\b/);
    assert.match(setup, /npm ci\b/);
    assert.match(runs, /npm run build/);
    assert.match(setup, /npm run build/);
    assert.match(runs, /libopenslide0/, 'the runtime needs OpenSlide');
    const env = steps
      .filter((s) => s.op === 'ENV')
      .map((s) => s.args)
      .join(' ');
    const args = steps
      .filter((s) => s.op === 'ARG')
      .map((s) => s.args)
      .join(' ');
    if (file.endsWith('gpu')) assert.match(args, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
    else assert.match(env, /ONNXRUNTIME_NODE_INSTALL=skip/);
    const users = steps.filter((s) => s.op === 'USER');
    assert.ok(
      users.length > 0 && !/^(root|0)(:|$)/.test(users.at(-1)!.args),
      `${file}: the final image must not run as root`,
    );
    const workdirs = steps.filter((s) => s.op === 'WORKDIR').map((s) => s.args);
    assert.equal(workdirs.at(-1), '/app', 'specs say workingDir: /app');
  });
}

test('each spec names an image built here, and GPU stages use the GPU image', () => {
  const dir = join(root, 'pipelines');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
    const spec = parse(readFileSync(join(dir, f), 'utf8'));
    const image: string = spec.transform.image;
    const gpu = Boolean(spec.resourceLimits?.gpu);
    assert.equal(image, gpu ? 'tessella-gpu:latest' : 'tessella-cpu:latest', `${f}: image ${image}`);
    const entry = spec.transform.cmd.at(-1) as string;
    assert.ok(
      existsSync(join(root, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts'))),
      `${f}: ${entry} is not built from a source file`,
    );
  }
});

interface Stage {
  from: string;
  name?: string;
  steps: { op: string; args: string }[];
}

/** The instructions of each stage (FROM to the next FROM). */
function stages(file: string): Stage[] {
  const out: Stage[] = [];
  for (const s of instructions(readFileSync(join(root, 'docker', file), 'utf8'))) {
    if (s.op === 'FROM') out.push({ from: s.args, name: /\sAS\s+(\S+)$/i.exec(s.args)?.[1], steps: [] });
    else out.at(-1)?.steps.push(s);
  }
  return out;
}

/** A stage's steps with those of the stages it starts FROM (what its image holds). */
function lineage(all: Stage[], stage: Stage): { op: string; args: string }[] {
  const parent = all.find((s) => s.name !== undefined && s.name === stage.from.split(/\s/)[0]);
  return [...(parent ? lineage(all, parent) : []), ...stage.steps];
}

for (const file of dockerfiles) {
  test(`${file}: the final stage has no build tools, no build-time settings, and runs as the specs' transform.user`, () => {
    const all = stages(file);
    const final = all.at(-1)!;
    const text = lineage(all, final)
      .map((s) => `${s.op} ${s.args}`)
      .join('\n');
    for (const tool of ['curl', 'gnupg', 'ca-certificates', 'python3', 'g++', 'make', 'wget']) {
      assert.doesNotMatch(
        text,
        new RegExp(`install[^\\n]*\\s${tool.replace('+', '\\+')}(\\s|$)`),
        `${file}: ${tool} in the final stage`,
      );
    }
    for (const setting of ['NODE_EXTRA_CA_CERTS', 'npm_config_nodedir']) {
      assert.doesNotMatch(text, new RegExp(setting), `${file}: ${setting} belongs to the build stage only`);
    }
    // No third-party apt repository, no download at build time but npm's (Node comes from the node image).
    const everything = all
      .flatMap((s) => s.steps)
      .map((s) => s.args)
      .join('\n');
    assert.doesNotMatch(everything, /nodesource|curl |wget |sources\.list/, `${file}: no third-party apt repository`);
    // The registry CA comes as a build secret, never copied into a layer.
    assert.match(everything, /--mount=type=secret,id=npm_ca/);
    assert.doesNotMatch(everything, /COPY[^\n]*\.(crt|pem)/);
    const user = final.steps.filter((s) => s.op === 'USER').at(-1)!.args;
    assert.match(user, /^\d+:\d+$/, `${file}: a numeric USER (Kubernetes checks runAsNonRoot only against a uid)`);
    const dir = join(root, 'pipelines');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
      const spec = parse(readFileSync(join(dir, f), 'utf8'));
      const image: string = spec.transform.image;
      if (image !== `tessella-${file.endsWith('gpu') ? 'gpu' : 'cpu'}:latest`) continue;
      assert.equal(spec.transform.user, user.split(':')[0], `${f}: transform.user is the image's uid`);
    }
  });
}

test('Dockerfile.gpu: Node copied from the node image; the build checks CUDA 12 and cuDNN 9 are in its base', () => {
  const all = stages('Dockerfile.gpu');
  assert.match(all[0].from, /^node:20-bookworm-slim AS node$/);
  const text = all
    .flatMap((s) => s.steps)
    .map((s) => `${s.op} ${s.args}`)
    .join('\n');
  assert.match(text, /COPY --from=node \/usr\/local\/bin\/node \/usr\/local\/bin\/node/);
  for (const lib of ['libcudart.so.12', 'libcublasLt.so.12', 'libcudnn.so.9']) assert.ok(text.includes(lib), lib);
  const cudaImage = readFileSync(join(root, 'docker', 'Dockerfile.gpu'), 'utf8').match(/^ARG CUDA_IMAGE=(\S+)$/m)?.[1];
  assert.match(cudaImage ?? '', /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
});

const nm = join(root, 'node_modules');
const pruned = ['better-sqlite3', 'bindings', 'file-uri-to-path', 'koffi', '@types', '@img'];
test('prune-native.sh on copies of the real packages: leftovers gone, better-sqlite3 and koffi still load', {
  skip: pruned.every((p) => existsSync(join(nm, p)))
    ? false
    : `node_modules lacks one of ${pruned.join(', ')}: run ./scripts/setup`,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessella-prune-'));
  try {
    const copy = join(dir, 'node_modules');
    mkdirSync(copy);
    for (const p of pruned) cpSync(join(nm, p), join(copy, p), { recursive: true, verbatimSymlinks: true });
    mkdirSync(join(copy, '@img', 'sharp-wasm32'), { recursive: true }); // as npm installs it on some machines
    const r = spawnSync('sh', [join(root, 'docker', 'prune-native.sh')], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const bs = join(copy, 'better-sqlite3');
    assert.deepEqual(readdirSync(join(bs, 'build')), ['Release']);
    assert.deepEqual(readdirSync(join(bs, 'build', 'Release')), ['better_sqlite3.node']);
    for (const gone of ['deps', 'src']) assert.ok(!existsSync(join(bs, gone)), `better-sqlite3/${gone}`);
    assert.ok(!existsSync(join(copy, '@types')));
    assert.ok(!existsSync(join(copy, '@img', 'sharp-wasm32')));
    assert.deepEqual(readdirSync(join(copy, 'koffi', 'build', 'koffi')), [`linux_${process.arch}`]);
    assert.match(r.stdout, /prune-native: node_modules \d+ MiB -> \d+ MiB/);
    const load = spawnSync(
      process.execPath,
      [
        '-e',
        `
      const Database = require('./node_modules/better-sqlite3');
      const v = new Database(':memory:').prepare('select sqlite_version() v').get().v;
      const koffi = require('./node_modules/koffi');
      console.log(v, typeof koffi.load(null).func);`,
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    assert.equal(load.status, 0, load.stderr);
    assert.match(load.stdout, /^3\.\d+\.\d+ function$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
