#!/usr/bin/env node
// Entry for `npx tessella`: the compiled CLI when built, else the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const built = new URL('../dist/app/cli.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../app/cli.ts', import.meta.url).href);
}
