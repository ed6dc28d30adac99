/**
 * Every TESSELLA_* variable the engine and its stages read, in one zod schema: a bad value fails at once naming
 * the variable and what is allowed, instead of becoming NaN (a lock wait "up to NaN s" that never ends).
 * `tessella` checks them before any verb runs; each reader takes its value from engineEnv().
 */
import * as z from 'zod';
import { envEnum, envInt, envNumber, envString, parseEnv } from '../shared/config.js';

/** true/false, 1/0, yes/no, on/off; unset when empty. */
const envBool = () =>
  z.preprocess(
    (v) => {
      if (typeof v !== 'string' || v.trim() === '') return v === '' ? undefined : v;
      const s = v.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(s)) return true;
      if (['0', 'false', 'no', 'off'].includes(s)) return false;
      return v;
    },
    z.boolean({ error: 'expected true/false (or 1/0, yes/no)' }),
  );

/** `TESSELLA_GPUS`: a count (`2`) or a list of device ids (`0,2`). */
const gpuList = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
  z
    .string()
    .regex(/^\s*(\d+|\d+(\s*,\s*\d+)*)\s*$/, { error: 'expected a count (2) or a list of GPU ids (0,2)' })
    .transform((t) => {
      const s = t.trim();
      return /^\d+$/.test(s)
        ? Array.from({ length: Number(s) }, (_, i) => String(i))
        : s.split(',').map((x) => x.trim());
    })
    .optional(),
);

export const EngineEnvSchema = z.object({
  /** the store (default ./.tessella) */
  TESSELLA_HOME: envString().optional(),
  /** where the stages' code is (a spec's workingDir /app), default the checkout */
  TESSELLA_APP_DIR: envString().optional(),
  /** seconds `run` waits for another runner (default 10) */
  TESSELLA_LOCK_TIMEOUT: envNumber({ min: 0 }).default(10),
  /** milliseconds a writer waits for SQLite's lock (default 15000) */
  TESSELLA_BUSY_MS: envInt({ min: 0 }).default(15000),
  /** 0: no fsync of blobs (survives SIGKILL, not power loss) */
  TESSELLA_FSYNC: envBool().default(true),
  /** datums in flight per CPU pipeline (default: the cores) */
  TESSELLA_MAX_PARALLEL: envInt({ min: 1 }).optional(),
  TESSELLA_GPUS: gpuList,
  /** how a datum is kept from writing the store: see worker/sandbox.ts */
  TESSELLA_ISOLATION: envEnum(['auto', 'namespace', 'copy'] as const).default('auto'),
  /**
   * true: hash every input file a datum mounts (hard link or copy) against its name before the datum runs; off by
   * default, since a hard link reads no byte and the hash costs a full read (docs/engine.md). Sizes are always
   * checked.
   */
  TESSELLA_VERIFY_MOUNTS: envBool().default(false),
  /**
   * What a writing verb checks of meta.sqlite before its first write (store/integrity.ts): `auto` SQLite's quick_check
   * while the file is at most 64 MiB (~0.2 s) and its header and size above that, so that a write's cost does not grow
   * with the store; `quick` always quick_check (O(store)); `header` only the header and size (O(1)).
   */
  TESSELLA_WRITE_CHECK: envEnum(['auto', 'quick', 'header'] as const).default('auto'),
  /** off: a process per datum even where a spec asks for datum batching (to compare, or to debug one datum) */
  TESSELLA_DATUM_BATCHING: envEnum(['spec', 'off'] as const).default('spec'),
  /** json: log lines as JSON even on a terminal */
  TESSELLA_LOG_FORMAT: envEnum(['json', 'text'] as const).optional(),
  /** stacks with errors */
  TESSELLA_DEBUG: envString().optional(),
  /** OpenSlide's library file, when not found by its usual names */
  TESSELLA_OPENSLIDE_LIB: envString().optional(),
  /** set by the engine for a datum's process: the names of its spec's transform.env, comma-separated */
  TESSELLA_SPEC_ENV: envString().optional(),
  /** read by scripts/setup only */
  TESSELLA_GPU: envBool().optional(),
});

export type EngineEnv = z.infer<typeof EngineEnvSchema>;

/** The engine's variables from `env` (default process.env), validated; throws ConfigError naming the bad ones. */
export function engineEnv(env: Record<string, string | undefined> = process.env): EngineEnv {
  return parseEnv(EngineEnvSchema, env, 'the environment');
}
