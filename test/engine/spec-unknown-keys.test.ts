/**
 * A spec key Pachyderm's spec does not have is refused, as its schema (additionalProperties: false) refuses it,
 * naming the key's path and the nearest valid name, in the user's spelling (camelCase or snake_case); the keys
 * inside env, nodeSelector, labels and annotations are the user's own. Through parseSpecs, and through the CLI's
 * `create pipeline`, `update pipeline` and `init`, which store nothing then.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseSpecs } from '../../engine/pps/spec/load.js';
import { SpecError } from '../../engine/pps/spec/spec-error.js';
import { projectRoot, tempDir } from '../helpers/dirs.js';
import { cli } from './_engine-helpers.js';

const spec = (extra: string, transformExtra = '') => `
pipeline: { name: p }
input: { pfs: { repo: in, glob: "/*" } }
transform:
  cmd: [sh]
  stdin: ["cp -r /pfs/in/* /pfs/out/"]
${transformExtra}${extra}`;

function refusal(text: string): string {
  try {
    parseSpecs(text, 'p.yaml');
  } catch (e) {
    assert.ok(e instanceof SpecError, String(e));
    return e.message;
  }
  return assert.fail('the spec was accepted');
}

describe('unknown spec keys', () => {
  for (const [extra, transformExtra, says] of [
    ['paralellismSpec: { constant: 1 }\n', '', 'paralellismSpec: unknown key; did you mean parallelismSpec?'],
    ['', '  evn: { TILE_SIZE: "224" }\n', 'transform.evn: unknown key; did you mean env?'],
    ['datumTimout: 60s\n', '', 'datumTimout: unknown key; did you mean datumTimeout?'],
    ['datum_timout: 60s\n', '', 'datum_timout: unknown key; did you mean datum_timeout?'],
    ['parallelism_spec: { constnt: 2 }\n', '', 'parallelism_spec.constnt: unknown key; did you mean constant?'],
    [
      'resource_limits: { gpu: { tpye: nvidia.com/gpu, number: 1 } }\n',
      '',
      'resource_limits.gpu.tpye: unknown key; did you mean type?',
    ],
  ]) {
    test(`${says.split(':')[0]}: refused, naming the nearest valid name`, () => {
      const message = refusal(spec(extra, transformExtra));
      assert.ok(message.startsWith('p.yaml (pipeline p): '), message);
      assert.ok(message.includes(says), message);
    });
  }

  test('inside an input tree: the path names the branch; a key near nothing lists the valid ones', () => {
    const text = `
pipeline: { name: p }
input: { cross: [ { pfs: { repo: a, glob: "/*" } }, { pfs: { repo: b, glb: "/" } } ] }
transform: { cmd: [sh] }
wibble: 1
`;
    const message = refusal(text);
    assert.match(message, /input\.cross\[1\]\.pfs\.glb: unknown key; did you mean glob\?/);
    assert.match(message, /wibble: unknown key; the keys here are pipeline, .*datumTries/);
  });

  test("the user's own names (env, nodeSelector, labels, annotations) and every Pachyderm field pass", () => {
    const [s] = parseSpecs(
      spec(
        `scheduling_spec: { node_selector: { gpu_kind: a100 } }
metadata: { labels: { team_name: path }, annotations: { anyThing: x } }
sidecar_resource_limits: { cpu: 1 }
tolerations: [ { key: k, operator: Exists, effect: NoSchedule } ]
datum_set_spec: { number: 1 }
`,
        '  env: { evn: "1", paralellismSpec: "2" }\n  image_pull_secrets: [regcred]\n',
      ),
      'p.yaml',
    );
    assert.deepEqual(s.transform.env, { evn: '1', paralellismSpec: '2' });
  });

  test('every spec of pipelines/ still loads', () => {
    const dir = join(projectRoot, 'pipelines');
    const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
    assert.ok(files.length > 0);
    for (const f of files) assert.ok(parseSpecs(readFileSync(join(dir, f), 'utf8'), f).length > 0, f);
  });
});

describe('create pipeline, update pipeline and init refuse an unknown key and store nothing', () => {
  const t = tempDir('spec-unknown-keys');
  after(() => t.cleanup());
  const home = join(t.dir, 'home');

  test('create and update', () => {
    writeFileSync(join(t.dir, 'good.yaml'), spec(''));
    writeFileSync(join(t.dir, 'typo.yaml'), spec('datumTimout: 60s\n'));
    assert.equal(cli(home, ['create', 'repo', 'in']).code, 0);
    const created = cli(home, ['create', 'pipeline', '-f', join(t.dir, 'typo.yaml')]);
    assert.notEqual(created.code, 0);
    assert.match(created.stderr, /typo\.yaml \(pipeline p\): datumTimout: unknown key; did you mean datumTimeout\?/);
    assert.doesNotMatch(cli(home, ['list', 'pipeline']).stdout, /\bp\b/, 'nothing created');
    assert.equal(cli(home, ['create', 'pipeline', '-f', join(t.dir, 'good.yaml')]).code, 0);
    const updated = cli(home, ['update', 'pipeline', '-f', join(t.dir, 'typo.yaml')]);
    assert.notEqual(updated.code, 0);
    assert.match(updated.stderr, /datumTimout: unknown key; did you mean datumTimeout\?/);
    const stored = JSON.parse(cli(home, ['inspect', 'pipeline', 'p', '-o', 'json']).stdout);
    assert.equal(JSON.stringify(stored).includes('datumTimout'), false, 'the stored spec is the good one');
  });

  test('init with a folder holding a typo', () => {
    const specs = join(t.dir, 'specs');
    mkdirSync(specs);
    writeFileSync(join(specs, 'p.yaml'), spec('', '  evn: { A: "1" }\n'));
    const r = cli(join(t.dir, 'init-home'), ['init', '--pipelines', specs]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /p\.yaml \(pipeline p\): transform\.evn: unknown key; did you mean env\?/);
  });
});
