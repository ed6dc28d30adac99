/**
 * A fault every datum would share (a model fault, a parameter fault: the error event's `kind`) fails the job at its
 * first datum, with its reason, instead of datumTries x every datum; a crash that may pass on a second try is still
 * retried on every datum. A failure's paths are the user's (`in@master:/a`, `/pfs/out/...`), not the datum's
 * scratch folder. Real processes through the CLI.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { cli, writeTree } from './_engine-helpers.js';

const modelFault = JSON.stringify({
  level: 'error',
  component: 'embed',
  event: 'failed',
  error: 'ModelFault',
  message: 'models@master:/embed/model.onnx (12 bytes) is not a complete ONNX model',
  kind: 'model',
});

const spec = (name: string, lines: string[]) => `
pipeline: { name: ${name} }
input: { pfs: { repo: in, glob: "/*" } }
parallelismSpec: { constant: 1 }
datumTries: 3
transform:
  cmd: [sh]
  stdin:
${lines.map((l) => `    - ${JSON.stringify(l)}`).join('\n')}
`;

/** How many times datums of `pipeline` were started, from their logs' attempt lines. */
function attempts(home: string, pipeline: string): number {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
  return walk(join(home, 'logs', pipeline))
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + (readFileSync(f, 'utf8').match(/^--- datum \w+ attempt/gm) ?? []).length, 0);
}

describe('faults that fail every datum alike', () => {
  const t = tempDir('faults-job-wide');
  after(() => t.cleanup());
  const home = join(t.dir, 'home');
  const ok = (...args: string[]) => {
    const r = cli(home, args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  test('a model fault: one try of one datum, the job fails with its reason; a plain crash is retried', () => {
    writeTree(join(t.dir, 'in'), { a: '1', b: '2', c: '3', d: '4' });
    writeFileSync(join(t.dir, 'fault.json'), `${modelFault}\n`);
    writeFileSync(join(t.dir, 'model.yaml'), spec('model', [`cat ${join(t.dir, 'fault.json')} >&2`, 'exit 1']));
    writeFileSync(join(t.dir, 'crash.yaml'), spec('crash', ['echo "segfault, maybe" >&2', 'exit 3']));
    ok('create', 'repo', 'in');
    ok('put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'in'));
    ok('create', 'pipeline', '-f', join(t.dir, 'model.yaml'));
    ok('create', 'pipeline', '-f', join(t.dir, 'crash.yaml'));
    const r = cli(home, ['run']);
    assert.notEqual(r.code, 0);
    assert.equal(attempts(home, 'model'), 1, 'one model open, not 3 tries x 4 datums');
    assert.match(r.stderr, /is not a complete ONNX model/);
    const job = JSON.parse(ok('list', 'job', '-p', 'model', '-o', 'json').split('\n')[0]);
    const reason = JSON.stringify(job);
    assert.match(reason, /not retried: a model fault/);
    assert.match(reason, /the job stopped there, 3 datum\(s\) not tried: a model fault fails every datum alike/);
    assert.equal(attempts(home, 'crash'), 12, 'a crash may pass on a second try: 3 tries x 4 datums');
  });

  test("a failure names the input's repo path and /pfs/out, not the datum's scratch folder", () => {
    writeFileSync(
      join(t.dir, 'paths.yaml'),
      spec('paths', ['cat "$in/nope" || true', 'echo "cannot read $in and $PFS_ROOT/out/x.bin" >&2', 'exit 2']),
    );
    ok('create', 'pipeline', '-f', join(t.dir, 'paths.yaml'));
    const r = cli(home, ['run']);
    assert.notEqual(r.code, 0);
    const out = r.stderr + ok('list', 'job', '-p', 'paths', '-o', 'json');
    assert.match(out, /cannot read in@master:\/[abcd] and \/pfs\/out\/x\.bin/);
    assert.doesNotMatch(out, /scratch/);
  });
});
