/**
 * The `tessella` CLI's entry: the engine's runCli (engine/cli/run-cli.ts) over tessella's verb table
 * (app/verbs/tessella-verbs.ts).
 */
import { realpathSync } from 'node:fs';
import { runCli } from '../engine/cli/run-cli.js';
import { addPutCheck } from '../engine/pfs/put-checks.js';
import { refuseEmptySlides } from './slide-folder.js';
import { verbs } from './verbs/tessella-verbs.js';

export async function main(argv: string[]): Promise<number> {
  addPutCheck(refuseEmptySlides);
  return runCli(verbs, argv);
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
  return /(?:^|[\\/])(?:bin[\\/]tessella(?:\.js)?|app[\\/]cli\.[jt]s)$/.test(p);
}

if (isEntry()) {
  process.exitCode = await main(process.argv.slice(2));
}
