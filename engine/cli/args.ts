/** Argument helpers shared by the verbs: `-o json`, exactly-one positional, counts. */
import { UsageError, type Values } from './verb.js';

/** The `-o json` flag of the list and inspect verbs. */
export const jsonOption = { output: { type: 'string', short: 'o' } } as const;

/** Whether `-o json` was given (its value is checked by the verb's option schema: options.ts). */
export function wantsJson(values: Values): boolean {
  return values.output === 'json';
}

export function one(args: string[], what: string): string {
  if (args.length !== 1) throw new UsageError(`expected ${what}`);
  return args[0];
}

/** A count flag's value (`-n N`, `--limit N`), checked by the verb's schema (countValue); undefined when absent. */
export function countOf(values: Values, flag: string): number | undefined {
  const v = values[flag];
  return typeof v === 'number' ? v : undefined;
}

/** A string flag's value, undefined when absent. */
export function stringOf(values: Values, flag: string): string | undefined {
  const v = values[flag];
  return typeof v === 'string' ? v : undefined;
}
