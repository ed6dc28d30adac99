/**
 * The CLI process and its surroundings: the TESSELLA_* variables checked before any verb runs (engine/env.ts),
 * and output into a closed pipe (`tessella list job | head`) ending the verb quietly, as pachctl does, instead of
 * an EPIPE stack trace.
 */
import { ConfigError } from '../../shared/config.js';
import { EngineEnvSchema, engineEnv } from '../env.js';

let installed = false;

/** stdout closed by its reader: nothing more to say, exit at once. stderr closed: stop writing to it. */
export function quietOnClosedPipes(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
}

/** What is wrong with the environment's TESSELLA_* variables (a bad value), or undefined. */
export function checkEnvironment(env: NodeJS.ProcessEnv = process.env): string | undefined {
  try {
    engineEnv(env);
  } catch (e) {
    if (e instanceof ConfigError)
      return e.message.replace('invalid parameters in the environment', 'invalid environment');
    throw e;
  }
  return undefined;
}

/** A warning for TESSELLA_* names tessella does not read (a typo would otherwise be silently ignored). */
export function unknownVariables(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const known = new Set(Object.keys(EngineEnvSchema.shape));
  const unknown = Object.keys(env).filter((k) => k.startsWith('TESSELLA_') && !known.has(k));
  if (!unknown.length) return undefined;
  return `${unknown.join(', ')}: not a tessella variable, ignored (known: ${[...known].join(', ')})`;
}
