/**
 * runCli: finds the verb in a verb table (one word or two: `run`, `list repo`), answers `--help`, parses its flags
 * strictly and turns what it throws into a message and an exit status (errors.ts).
 */
import { parseArgs } from 'node:util';
import { jsonOption } from './args.js';
import { reportError } from './errors.js';
import { checkOptions, jsonValue } from './options.js';
import { checkEnvironment, quietOnClosedPipes, unknownVariables } from './process-io.js';
import { closeStore } from './session.js';
import { isRawVerb, type Values, type Verb } from './verb.js';
import type { VerbTable } from './verb-table.js';

/** The whole help: every verb of the table, then `extra` lines. */
export function help(verbs: VerbTable, extra: string[] = []): string {
  const lines = [
    'tessella: Pachyderm-style pipelines on one machine (store: $TESSELLA_HOME, default ./.tessella)',
    '',
    'Usage: tessella VERB ...',
    '',
  ];
  for (const v of Object.values(verbs)) lines.push(`  ${v.usage.padEnd(62)} ${v.summary}`);
  for (const e of extra) lines.push(`  ${e}`);
  return lines.join('\n') + '\n';
}

function find(verbs: VerbTable, argv: string[]): { name: string; verb: Verb; rest: string[] } | undefined {
  const two = argv.length > 1 ? `${argv[0]} ${argv[1]}` : undefined;
  if (Object.hasOwn(verbs, argv[0])) return { name: argv[0], verb: verbs[argv[0]], rest: argv.slice(1) };
  if (two && Object.hasOwn(verbs, two)) return { name: two, verb: verbs[two], rest: argv.slice(2) };
  return undefined;
}

/** Runs `tessella ARGV` over `verbs`; returns the exit status. `extra`: more lines for the help text. */
export async function runCli(verbs: VerbTable, argv: string[], extra: string[] = []): Promise<number> {
  quietOnClosedPipes();
  const envProblem = checkEnvironment();
  if (envProblem) {
    process.stderr.write(`tessella: ${envProblem}\n`);
    return 2;
  }
  const unknown = unknownVariables();
  if (unknown) process.stderr.write(`tessella: ${unknown}\n`);
  if (!argv.length || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(help(verbs, extra));
    return argv.length ? 0 : 2;
  }
  const found = find(verbs, argv);
  if (!found) {
    process.stderr.write(
      `tessella: unknown verb ${JSON.stringify(argv.slice(0, 2).join(' '))}\n\n${help(verbs, extra)}`,
    );
    return 2;
  }
  const { name, verb, rest } = found;
  // such a verb parses, helps and reports on its own
  if (isRawVerb(verb)) return verb.main(rest);
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`Usage: tessella ${verb.usage}\n  ${verb.summary}\n`);
      return 0;
    }
    const { values, positionals, tokens } = parseArgs({
      args: rest,
      options: verb.options ?? {},
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    const checked = checkOptions(verb.options, { ...jsonRule(verb), ...verb.schema }, values as Values, tokens);
    const code = await verb.run(positionals, checked);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    return reportError(name, verb.usage, e);
  } finally {
    closeStore();
  }
}

/** `-o` of a verb that spreads jsonOption means `-o json` (get file's `-o` is a path). */
function jsonRule(verb: { options?: Record<string, unknown> }): Record<string, typeof jsonValue> {
  return verb.options?.output === jsonOption.output ? { output: jsonValue } : {};
}
