/**
 * The `tessella` CLI: pachctl's verbs on the embedded engine (engine/verbs.ts), plus verbs other modules add
 * through `extraVerbs` (one line each: the module exports `main(argv): Promise<number>`).
 */
import { realpathSync } from 'node:fs';

export const extraVerbs: Record<string, () => Promise<{ main(argv: string[]): Promise<number> }>> = {
  demo: () => import('./demo/main.js'),
  dataset: () => import('./commands/dataset.js'),
};

export async function main(argv: string[]): Promise<number> {
  const verb = argv[0];
  if (verb && Object.hasOwn(extraVerbs, verb)) return (await extraVerbs[verb]()).main(argv.slice(1));
  const { runCli } = await import('./verbs.js');
  return runCli(argv, Object.keys(extraVerbs));
}

function isEntry(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  let p = arg;
  try {
    p = realpathSync(arg);
  } catch {
    /* as given */
  }
  return /(?:^|[\\/])(?:bin[\\/]tessella(?:\.js)?|engine[\\/]cli\.[jt]s)$/.test(p);
}

if (isEntry()) {
  process.exitCode = await main(process.argv.slice(2));
}
