/**
 * What can be checked of the images without a Docker engine: every path a Dockerfile copies from the build
 * context exists and is not excluded by .dockerignore; the install and build commands are the ones the set-up
 * script runs; each image runs the stages the specs name (CPU image: every CPU stage, GPU image: the GPU stages).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
        assert.ok(!ignored.includes(top) && !ignored.includes(src), `${file}: COPY ${src} is excluded by .dockerignore`);
      }
    }
  });

  test(`${file}: installs and builds as scripts/setup does, and runs as a non-root user`, () => {
    const runs = steps.filter((s) => s.op === 'RUN').map((s) => s.args).join('\n');
    const setup = readFileSync(join(root, 'scripts', 'setup'), 'utf8');
    assert.match(runs, /npm ci\b/);
    assert.match(setup, /npm ci\b/);
    assert.match(runs, /npm run build/);
    assert.match(setup, /npm run build/);
    assert.match(runs, /libopenslide0/, 'the runtime needs OpenSlide');
    const env = steps.filter((s) => s.op === 'ENV').map((s) => s.args).join(' ');
    assert.match(env, file.endsWith('gpu') ? /ONNXRUNTIME_NODE_INSTALL=cuda12/ : /ONNXRUNTIME_NODE_INSTALL=skip/);
    const users = steps.filter((s) => s.op === 'USER');
    assert.ok(users.length > 0 && users.at(-1)!.args !== 'root', `${file}: the final image must not run as root`);
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
    assert.ok(existsSync(join(root, entry.replace(/^dist\//, '').replace(/\.js$/, '.ts'))), `${f}: ${entry} is not built from a source file`);
  }
});
