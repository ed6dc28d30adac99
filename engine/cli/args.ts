/** Argument helpers shared by the verbs: `-o json`, exactly-one positional, counts. */
import { UsageError, type Values } from './verb.js';

/** The `-o json` flag of the list and inspect verbs. */
export const jsonOption = { output: { type: 'string', short: 'o' } } as const;

export function wantsJson(values: Values): boolean {
  const o = values.output;
  if (o === undefined) return false;
  if (o === 'json') return true;
  throw new UsageError(`-o ${String(o)}: the only output format is json`);
}

export function one(args: string[], what: string): string {
  if (args.length !== 1) throw new UsageError(`expected ${what}`);
  return args[0];
}

/** A count flag's value (`-n N`, `--limit N`): a whole number, 0 or more; undefined when the flag is absent. */
export function countOf(values: Values, flag: string, spelled = `--${flag}`): number | undefined {
  const v = values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`${spelled} ${String(v)}: expected a whole number`);
  return n;
}

/** A string flag's value, undefined when absent. */
export function stringOf(values: Values, flag: string): string | undefined {
  const v = values[flag];
  return typeof v === 'string' ? v : undefined;
}
