/**
 * A datum's process is told which of its variables came from the spec (TESSELLA_SPEC_ENV): locally it inherits the
 * user's whole shell, and a stage checking its parameters by name must check the spec's, not a stray `export`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Store } from '../../engine/store/store.js';
import { headOf, filesOf } from '../../engine/pfs/commits.js';
import { cli, writeTree } from './_engine-helpers.js';
import { tempDir } from '../helpers/dirs.js';

const t = tempDir('spec-env');
after(() => t.cleanup());

test("TESSELLA_SPEC_ENV names the spec's transform.env, not the shell's variables", () => {
  const home = join(t.dir, 'home');
  writeTree(join(t.dir, 'in'), { a: 'a\n' });
  writeTree(t.dir, {
    'names.yaml': `
pipeline: { name: names }
input: { pfs: { repo: in, glob: "/*" } }
transform:
  cmd: [sh]
  stdin: ['printf "%s|%s" "$TESSELLA_SPEC_ENV" "$FROM_SHELL" > /pfs/out/names']
  env: { TILE_SIZE: "224", other_name: "x" }
`,
  });
  for (const args of [
    ['create', 'repo', 'in'],
    ['put', 'file', 'in@master:/', '-r', '-f', join(t.dir, 'in')],
    ['create', 'pipeline', '-f', join(t.dir, 'names.yaml')],
    ['run'],
  ]) {
    const r = cli(home, args, { env: { FROM_SHELL: 'yes' } });
    assert.equal(r.code, 0, r.stderr);
  }
  const s = Store.open(home);
  try {
    const head = headOf(s, 'names', 'master');
    assert.ok(head);
    const file = filesOf(s, head.seq).find((f) => f.path === '/names');
    assert.ok(file);
    assert.equal(readFileSync(s.blobs.pathOf(file.hash), 'utf8'), 'TILE_SIZE,other_name|yes');
  } finally {
    s.close();
  }
});
