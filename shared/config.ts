/**
 * Stage parameters come from `transform.env` (strings). Each stage declares a zod object of them; parseEnv
 * validates and converts, and rewrites zod's issues so the message names the variable and what is allowed.
 */
import * as z from 'zod';

export class ConfigError extends Error {
  /** The stage frame logs it with the crash: a fault that fails every datum alike (read by the engine). */
  readonly kind = 'parameters';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Env helpers: empty strings count as unset, so `FOO=` in a spec falls back to the default. */
const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const envInt = (opts: { min?: number; max?: number } = {}) =>
  z.preprocess(
    unsetIfEmpty,
    z.coerce
      .number({ error: 'expected an integer' })
      .int({ error: 'expected an integer' })
      .min(opts.min ?? -Infinity, { error: `expected an integer >= ${opts.min}` })
      .max(opts.max ?? Infinity, { error: `expected an integer <= ${opts.max}` }),
  );

export const envNumber = (opts: { min?: number; max?: number } = {}) =>
  z.preprocess(
    unsetIfEmpty,
    z.coerce
      .number({ error: 'expected a number' })
      .min(opts.min ?? -Infinity, { error: `expected a number >= ${opts.min}` })
      .max(opts.max ?? Infinity, { error: `expected a number <= ${opts.max}` }),
  );

export const envEnum = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess(
    (v) => (typeof unsetIfEmpty(v) === 'string' ? String(v).toLowerCase() : unsetIfEmpty(v)),
    z.enum(values, { error: `expected one of ${values.join(', ')}` }),
  );

/** A comma-separated list, e.g. EXECUTION_PROVIDERS=cuda,cpu. */
export const envList = () =>
  z.preprocess(
    (v) =>
      typeof unsetIfEmpty(v) === 'string'
        ? String(v)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : unsetIfEmpty(v),
    z.array(z.string()),
  );

export const envString = () => z.preprocess(unsetIfEmpty, z.string());

/** Validate `env` against `schema`; throws ConfigError naming every bad variable. */
export function parseEnv<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
  where = 'transform.env',
): z.infer<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) picked[key] = env[key];
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.join('.');
    const raw = picked[String(issue.path[0])];
    const got = raw === undefined ? 'nothing' : `'${raw}'`;
    return `${key}: ${issue.message}, got ${got}`;
  });
  throw new ConfigError(`invalid parameters in ${where}:\n  ${lines.join('\n  ')}`);
}

/**
 * An on/off switch of the runtime's own, not a stage parameter (TESSELLA_DIRECT_TILES, TESSELLA_COLOUR_TABLE: what
 * the benchmarks compare against): on unless set to `off`; any other value is refused, not taken for on.
 */
export function envSwitch(name: string, env: Record<string, string | undefined> = process.env): boolean {
  const schema = z.object({ [name]: envEnum(['on', 'off'] as const).default('on') });
  return parseEnv(schema, env, 'the environment')[name] === 'on';
}
