#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test through tsx (Node 20's --test does not expand globs).
// Extra arguments filter by path substring: `npm test -- engine merge`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

const files = find(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(', ') || 'test/**/*.test.ts'}`);
  process.exit(1);
}
// The whole suite starts with the formatter and linter (biome, 120 columns): a style slip fails fast, before minutes
// of tests. A filtered run is for working on a few tests and skips it (`npm run lint` runs it alone).
if (filters.length === 0) {
  const lint = spawnSync(
    process.execPath,
    [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'ci', '--colors=off', '.'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  if (lint.status !== 0) {
    console.error('lint: biome found problems above; `npm run format` fixes formatting and safe lint fixes');
    process.exit(lint.status ?? 1);
  }
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
