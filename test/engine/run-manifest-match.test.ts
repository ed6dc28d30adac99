/**
 * At the end of `tessella run` (the app's run over the engine's): manifest rows with no slide, slides with no row
 * and the near misses (case, Unicode form) between them, printed only when something does not match. Real repos
 * through the CLI; no pipeline needs to run for it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../helpers/dirs.js';
import { cli, writeTree } from './_engine-helpers.js';

const t = tempDir('run-manifest-match');
after(() => t.cleanup());

function cohort(name: string, slides: string[], rows: string[]): string {
  const home = join(t.dir, name, 'home');
  const dir = join(t.dir, name);
  writeTree(join(dir, 'slides'), Object.fromEntries(slides.map((id) => [`${id}/${id}.svs`, 'bytes'])));
  const csv = `image_id,patient_id,center_id\n${rows.map((id, i) => `${id},p${i},A`).join('\n')}\n`;
  writeFileSync(join(dir, 'manifest.csv'), csv);
  for (const args of [
    ['create', 'repo', 'slides'],
    ['create', 'repo', 'manifest'],
    ['put', 'file', 'slides@master:/', '-r', '-f', join(dir, 'slides')],
    ['put', 'file', 'manifest@master:/manifest.csv', '-f', join(dir, 'manifest.csv')],
  ]) {
    const r = cli(home, args);
    assert.equal(r.code, 0, r.stderr);
  }
  return home;
}

test('rows without a slide, slides without a row and near misses are named at the end of run', () => {
  const composed = 'caf\u00e9';
  const decomposed = 'cafe\u0301';
  const home = cohort('mismatch', ['s1', 's2', decomposed, 'extra'], ['s1', 'S2', composed, 'gone']);
  const r = cli(home, ['run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /tessella: the manifest and the slides:/);
  assert.match(r.stderr, /3 manifest row\(s\) with no slide: "S2", "café", "gone"/);
  assert.match(r.stderr, /3 slide\(s\) with no manifest row: /);
  assert.match(r.stderr, /row "S2" and slide "s2" differ only in upper\/lower case/);
  assert.match(r.stderr, /differ only in Unicode form/);
});

test('nothing is said when every row has its slide and every slide its row', () => {
  const home = cohort('match', ['s1', 's2'], ['s1', 's2']);
  const r = cli(home, ['run']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /manifest and the slides/);
});
