/**
 * The engine's walls, read from its sources: engine/ knows nothing of tessella's pathology (no import of stages/,
 * scripts/, app/, the dataset contract or the slide readers; no input repo named), its modules import each other
 * without a circle, and no file of it is over 400 lines.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../helpers/dirs.js';

const engineDir = join(projectRoot, 'engine');
const MAX_LINES = 400;

/** Folders of the project engine/ may not import from (relative to the project root). */
const FORBIDDEN = ['stages/', 'scripts/', 'app/', 'shared/contract/', 'shared/slide/'];

/** Names of tessella's own input repos, which only app/ may know. */
const PATHOLOGY_NAMES = /['"`](slides|manifest|models)['"`]/;

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourcesUnder(p);
    return name.endsWith('.ts') ? [p] : [];
  });
}

/** The project files a module imports (relative specifiers only), as absolute .ts paths where one exists. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]);
    const ts = target.replace(/\.js$/, '.ts');
    out.push(existsSync(ts) ? ts : target);
  }
  return out;
}

const files = sourcesUnder(engineDir);

test('engine/ has modules to check', () => {
  assert.ok(files.length > 20, `found only ${files.length} modules under ${engineDir}`);
});

test('engine/ imports nothing of stages/, scripts/, app/, shared/contract/ or shared/slide/', () => {
  const found: string[] = [];
  for (const f of files) {
    for (const target of importsOf(f)) {
      const rel = relative(projectRoot, target).split('\\').join('/');
      if (FORBIDDEN.some((dir) => rel.startsWith(dir))) found.push(`${relative(projectRoot, f)} imports ${rel}`);
    }
  }
  assert.deepEqual(found, [], `engine/ must stay domain-neutral; move these into app/:\n${found.join('\n')}`);
});

test("engine/ names none of tessella's input repos", () => {
  const found = files.filter((f) => PATHOLOGY_NAMES.test(readFileSync(f, 'utf8'))).map((f) => relative(projectRoot, f));
  assert.deepEqual(found, [], `the input repos are app/'s to name (app/spec-folder.ts): ${found.join(', ')}`);
});

test('engine/ has no import circle', () => {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => t.startsWith(engineDir + '/'))]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const circles: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') {
        const circle = [...stack.slice(stack.indexOf(t)), t].map((p) => relative(engineDir, p));
        circles.push(circle.join(' -> '));
      } else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(circles, [], `import circles in engine/:\n${circles.join('\n')}`);
});

test(`no file of engine/ is over ${MAX_LINES} lines`, () => {
  const long = files
    .map((f) => ({ f: relative(projectRoot, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter((x) => x.lines > MAX_LINES)
    .map((x) => `${x.f}: ${x.lines} lines`);
  assert.deepEqual(long, [], `split these by what each part does:\n${long.join('\n')}`);
});
