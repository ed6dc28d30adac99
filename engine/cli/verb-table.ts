/**
 * A CLI's verb table: groups of verbs joined in the order `help` lists them. An app over the engine makes its
 * table from the engine's groups (cli/verbs/engine-verbs.ts) and its own; two groups may not name the same verb.
 */
import type { Verb } from './verb.js';

export type VerbTable = Readonly<Record<string, Verb>>;

export function verbTable(...groups: Record<string, Verb>[]): VerbTable {
  const table: Record<string, Verb> = {};
  for (const group of groups) {
    for (const [name, verb] of Object.entries(group)) {
      if (Object.hasOwn(table, name)) throw new Error(`the verb table names ${JSON.stringify(name)} twice`);
      table[name] = verb;
    }
  }
  return table;
}
