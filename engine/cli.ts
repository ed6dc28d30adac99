/**
 * The `tessella` CLI's entry: runCli (engine/cli/run-cli.ts) over the verb table (engine/commands/index.ts).
 */
import { realpathSync } from 'node:fs';
import { runCli } from './cli/run-cli.js';

export { runCli };

export async function main(argv: string[]): Promise<number> {
  return runCli(argv);
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
