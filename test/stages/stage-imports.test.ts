/**
 * The house rule for stages/: a pipeline's folder imports its own files, shared/, and the one module the merge
 * pipelines and manifest-mpp share (stages/cohort/), never another pipeline's folder; stages/cohort/ imports only
 * itself and shared/. So no arrow runs between pipelines and no circle can form among them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const root = resolve(import.meta.dirname, '../..');
const stagesDir = join(root, 'stages');
const SHARED_BETWEEN_STAGES = 'cohort';

/** Every relative import of a file, resolved to a path under the project root. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)].map((m) => m[1]);
  return specifiers.map((s) => relative(root, resolve(dirname(file), s)));
}

function stageFiles(): { folder: string; file: string }[] {
  return readdirSync(stagesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(stagesDir, d.name), { recursive: true, encoding: 'utf8' })
        .filter((n) => n.endsWith('.ts'))
        .map((n) => ({ folder: d.name, file: join(stagesDir, d.name, n) })),
    );
}

describe('stages import shared/ and stages/cohort/, never each other', () => {
  it('every relative import of a stage file stays in its folder, shared/ or stages/cohort/', () => {
    const files = stageFiles();
    assert.ok(files.length > 20, `found only ${files.length} stage files under ${stagesDir}`);
    const wrong: string[] = [];
    for (const { folder, file } of files) {
      const allowed = [`stages/${folder}/`, 'shared/'];
      if (folder !== SHARED_BETWEEN_STAGES) allowed.push(`stages/${SHARED_BETWEEN_STAGES}/`);
      for (const target of relativeImports(file))
        if (!allowed.some((a) => target.startsWith(a))) wrong.push(`${relative(root, file)} imports ${target}`);
    }
    assert.deepEqual(wrong, [], 'move what two pipelines share into stages/cohort/ (or shared/)');
  });

  it('shared/ imports no stage', () => {
    const files = readdirSync(join(root, 'shared'), { recursive: true, encoding: 'utf8' })
      .filter((n) => n.endsWith('.ts'))
      .map((n) => join(root, 'shared', n));
    const wrong = files.flatMap((f) =>
      relativeImports(f)
        .filter((t) => t.startsWith('stages/'))
        .map((t) => `${relative(root, f)} imports ${t}`),
    );
    assert.deepEqual(wrong, []);
  });
});
