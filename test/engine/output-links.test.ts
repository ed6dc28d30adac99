/**
 * A symlink in out/ to another output of the datum is refused saying what it is and what the rule is (only links
 * into the datum's own inputs are kept), not `which does not exist`: relative (`b -> a.txt`), as a stage in a
 * Pachyderm container writes it (`/pfs/out/a.txt`), and to an output that was never written.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { cli, writeTree } from './_engine-helpers.js';

const t = tempDir('output-links');
after(() => t.cleanup());

const pipeline = (name: string, lines: string[]) => `
pipeline: { name: ${name} }
input: { pfs: { repo: in, glob: "/" } }
datumTries: 1
transform:
  cmd: [sh]
  stdin:
${lines.map((l) => `    - ${JSON.stringify(l)}`).join('\n')}
`;

// "/p" and "fs" kept apart: the engine maps a literal /pfs in a cmd to the datum's root, a stage's own link would not be
const CASES: Record<string, { lines: string[]; says: RegExp }> = {
  relative: {
    lines: ['echo x > /pfs/out/a.txt', 'ln -s a.txt /pfs/out/b.txt'],
    says: /output \/b\.txt is a symlink to a\.txt, which is another output of the datum \(\/a\.txt\): links between outputs are not kept: only links into the datum's own inputs are kept/,
  },
  'as-in-pachyderm': {
    lines: ['echo x > /pfs/out/a.txt', 'P=/p; Q=fs; ln -s "$P$Q/out/a.txt" /pfs/out/c.txt'],
    says: /output \/c\.txt is a symlink to \/pfs\/out\/a\.txt, which is another output of the datum \(\/a\.txt\): links between outputs are not kept/,
  },
  missing: {
    lines: ['ln -s never.txt /pfs/out/d.txt'],
    says: /output \/d\.txt is a symlink to never\.txt, which is a path under \$PFS_ROOT\/out that the datum did not write \(\/never\.txt\)/,
  },
};

test('a link to a sibling output says it is one, and the rule', () => {
  const home = join(t.dir, 'home');
  writeTree(join(t.dir, 'input'), { a: 'a' });
  assert.equal(cli(home, ['create', 'repo', 'in']).code, 0);
  assert.equal(cli(home, ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'input')]).code, 0);
  for (const [name, { lines }] of Object.entries(CASES)) {
    writeFileSync(join(t.dir, `${name}.yaml`), pipeline(name, lines));
    assert.equal(cli(home, ['create', 'pipeline', '-f', join(t.dir, `${name}.yaml`)]).code, 0);
  }
  const r = cli(home, ['run']);
  assert.notEqual(r.code, 0);
  for (const [name, { says }] of Object.entries(CASES)) {
    const job = cli(home, ['list', 'job', '-p', name, '-o', 'json']).stdout;
    assert.match(job, says, name);
    assert.doesNotMatch(job, /does not exist|scratch/, name);
  }
});
