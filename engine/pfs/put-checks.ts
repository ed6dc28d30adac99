/**
 * Checks an application adds to every put (`put file` and its own verbs that put): the engine gives no repo a
 * meaning, the application does (tessella refuses an empty slide). Each check gets the repo and the files about to
 * be put and returns one line per file it refuses; a put with any refusal writes nothing.
 */
import { StoreError } from '../store/store.js';

export type PutCheck = (repo: string, files: readonly { local: string; path: string }[]) => string[];

const checks: PutCheck[] = [];

export function addPutCheck(check: PutCheck): void {
  if (!checks.includes(check)) checks.push(check);
}

/** Throws a StoreError listing what the checks refuse. */
export function runPutChecks(repo: string, files: readonly { local: string; path: string }[]): void {
  const refused = checks.flatMap((c) => c(repo, files));
  if (!refused.length) return;
  throw new StoreError(`nothing was put into ${repo}:\n  ${refused.join('\n  ')}`);
}
