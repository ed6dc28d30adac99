/**
 * Why a datum failed is shown where the user looks (issue 11, item 3): the terminal of `run`, `inspect job` and
 * `inspect datum` carry the datum's own last error event (a stage's JSON error line, without its stack), or its
 * last stderr lines, after the exit code. Nothing is stored for the failed job.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { heads } from './_faults-helpers.js';

// the line a stage's main writes on a fatal error: createLogger(STAGE).error('failed', { error: err.stack })
const stageError = JSON.stringify({
  time: '2026-01-01T00:00:00.000Z',
  level: 'error',
  component: 'merge',
  event: 'failed',
  error:
    "Error: line 3, column 'image_id': duplicate image id S1\n    at readManifest (/app/dist/stages/cohort/manifest.js:10:5)",
});

const spec = (name: string, lines: string[]) => `
pipeline: { name: ${name} }
input: { pfs: { repo: in, glob: "/" } }
datumTries: 2
transform:
  cmd: [sh]
  stdin:
${lines.map((l) => `    - ${JSON.stringify(l)}`).join('\n')}
`;

describe('faults: the reason for a failure', () => {
  let t: ReturnType<typeof tempDir>;
  before(() => {
    t = tempDir();
  });
  after(() => t.cleanup());

  test("terminal, inspect job and inspect datum show the stage's error line; else its last stderr lines", () => {
    const home = join(t.dir, 'home');
    writeTree(join(t.dir, 'input'), { 'a.csv': 'x' });
    writeFileSync(join(t.dir, 'err.json'), stageError + '\n');
    writeFileSync(
      join(t.dir, 'json.yaml'),
      spec('json', [`echo starting >&2`, `cat ${join(t.dir, 'err.json')} >&2`, 'exit 1']),
    );
    writeFileSync(
      join(t.dir, 'plain.yaml'),
      spec('plain', ['echo one >&2', 'echo "cannot open /pfs/in/a.csv: bad header" >&2', 'exit 4']),
    );
    for (const args of [
      ['create', 'repo', 'in'],
      ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'input')],
      ['create', 'pipeline', '-f', join(t.dir, 'json.yaml')],
      ['create', 'pipeline', '-f', join(t.dir, 'plain.yaml')],
    ]) {
      assert.equal(cli(home, args).code, 0);
    }
    const r = cli(home, ['run']);
    assert.equal(r.code, 1);
    const jsonReason = /exit code 1: line 3, column 'image_id': duplicate image id S1 \(after 2 tries\)/;
    // the datum's /pfs/in/a.csv is named as the user knows it: the file of repo `in`, not a scratch path
    const plainReason = /exit code 4: one \| cannot open in@master:\/a\.csv: bad header \(after 2 tries\)/;
    assert.match(r.stderr, new RegExp(`datum \\w+: ${jsonReason.source}`));
    assert.match(r.stderr, new RegExp(`datum \\w+: ${plainReason.source}`));
    assert.doesNotMatch(r.stderr, /readManifest/, 'no stack frames');

    for (const [pipeline, reason] of [
      ['json', jsonReason],
      ['plain', plainReason],
    ] as const) {
      const job = JSON.parse(cli(home, ['list', 'job', '-p', pipeline, '-o', 'json']).stdout.split('\n')[0]);
      const ij = cli(home, ['inspect', 'job', `${pipeline}@${job.job.id}`]);
      assert.match(ij.stdout, new RegExp(`Reason: 1 datum\\(s\\) failed; first: \\w+: ${reason.source}`));
      const [datum] = cli(home, ['list', 'datum', `${pipeline}@${job.job.id}`, '-o', 'json'])
        .stdout.trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const id = cli(home, ['inspect', 'datum', `${pipeline}@${job.job.id}`, datum.datum.id]);
      assert.match(id.stdout, new RegExp(`Error: ${reason.source.replace(/ \\\(after 2 tries\\\)/, '')}`));
    }
    assert.deepEqual(heads(home).json, {}, 'no output commit');
  });
});
