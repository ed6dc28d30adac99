/**
 * Each verb's options as one zod schema: the type parseArgs gives (a string, a boolean, a list of strings), a
 * value for every string option, and the verb's own rules (`schema`: a count, seconds, `-o json`). A bad value is a
 * usage error naming the option as it was typed and what is allowed; the verb gets the converted values.
 */
import type { ParseArgsConfig } from 'node:util';
import * as z from 'zod';
import { UsageError, type Values } from './verb.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string];

/** A whole number, 0 or more (`-n`, `--limit`). */
export const countValue = z
  .string()
  .regex(/^\d+$/, { error: 'expected a whole number' })
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n), { error: 'expected a whole number' });

/** Seconds, 0 or more, fractions allowed (`--timeout`). */
export const secondsValue = z
  .string()
  .regex(/^\d+(\.\d+)?$/, { error: 'expected a number of seconds (0 or more, e.g. 30 or 0.5)' })
  .transform(Number);

/** `-o json` of the list and inspect verbs. */
export const jsonValue = z.literal('json', { error: 'the only output format is json' });

function baseOf(spec: OptionSpec): z.ZodType {
  const one = spec.type === 'boolean' ? z.boolean() : z.string().min(1, { error: 'expected a value' });
  return spec.multiple ? z.array(one) : one;
}

/** The schema of a verb's options: parseArgs' types, refined by `rules` (by option name). */
export function optionsSchema(options: ParseArgsConfig['options'] = {}, rules: Record<string, z.ZodType> = {}) {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(options)) {
    const rule = rules[name];
    shape[name] = (rule && spec.multiple ? z.array(rule) : (rule ?? baseOf(spec))).optional();
  }
  return z.strictObject(shape);
}

interface OptionToken {
  kind: string;
  name?: string;
  rawName?: string;
}

/** Validates parsed `values`; a bad one throws a UsageError such as `-n abc: expected a whole number`. */
export function checkOptions(
  options: ParseArgsConfig['options'],
  rules: Record<string, z.ZodType> | undefined,
  values: Values,
  tokens: OptionToken[] = [],
): Values {
  const r = optionsSchema(options, rules).safeParse(values);
  if (r.success) return r.data as Values;
  const issue = r.error.issues[0];
  const name = String(issue.path[0] ?? '');
  const typed = [...tokens].reverse().find((t) => t.kind === 'option' && t.name === name)?.rawName ?? `--${name}`;
  const got = values[name];
  const shown = Array.isArray(got) ? got[Number(issue.path[1] ?? 0)] : got;
  const text = shown === '' ? "''" : String(shown);
  throw new UsageError(`${typed} ${text}: ${issue.message}`);
}
