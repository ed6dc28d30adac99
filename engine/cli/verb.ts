/**
 * What a verb of the `tessella` CLI is: its usage line and summary (the help text is made of these), and either
 * its flags and a run over parsed arguments, or a `main` that takes the raw arguments (verbs with their own
 * parser and help, such as `demo` and `dataset`).
 */
import type { ParseArgsConfig } from 'node:util';
import type { ZodType } from 'zod';

export type Values = Record<string, string | number | boolean | string[] | boolean[] | undefined>;

interface VerbText {
  usage: string;
  summary: string;
}

/** A verb whose flags runCli parses (strictly) and whose `--help` runCli answers from `usage` and `summary`. */
export interface ParsedVerb extends VerbText {
  options?: ParseArgsConfig['options'];
  /** rules for option values beyond their type (zod, by option name): checked before `run`, which gets the result */
  schema?: Record<string, ZodType>;
  /** returns the exit status (undefined: 0) */
  // biome-ignore lint/suspicious/noConfusingVoidType: a verb may return nothing, which is exit status 0
  run(args: string[], values: Values): Promise<number | void> | number | void;
}

/** A verb that parses its own arguments, answers its own `--help` and returns its exit status. */
export interface RawVerb extends VerbText {
  main(argv: string[]): Promise<number>;
}

export type Verb = ParsedVerb | RawVerb;

export function isRawVerb(v: Verb): v is RawVerb {
  return 'main' in v;
}

/** A wrong command line: runCli prints the message and the verb's usage, and exits 2. */
export class UsageError extends Error {}
