/**
 * Which transform.env names each tessella stage reads, and the start-up check that refuses near misses of them.
 *
 * A stage's process environment holds far more than its parameters (PATH, HOME, Pachyderm's PACH_* and
 * <input>_COMMIT, the engine's TESSELLA_*, a user's OMP_NUM_THREADS), and nothing says which names came from the
 * spec. So only a name that is close to a tessella parameter is refused: another case (tile_size), a typo
 * (TILE_SIZ) or another stage's parameter given to this one (BATCH_SIZE to tile-detect), each of which would
 * otherwise run with the default and build a dataset with other parameters than the user wrote. The rest is named
 * once in the log and left alone.
 *
 * The names are listed here rather than read from the stages' zod schemas so that a stage's start does not load
 * every other stage's modules (the model stages' pull in ONNX Runtime); test/stage-parameters.test.ts checks the
 * list against the schemas.
 */
import { ConfigError } from './config.js';
import { nearestName } from './nearest-name.js';

const MODEL_PARAMETERS = [
  'EXECUTION_PROVIDERS',
  'BATCH_SIZE',
  'INTRA_OP_THREADS',
  'INTER_OP_THREADS',
  'THREAD_SPINNING',
  'PIXEL_CONVERSION',
  'PRECISION',
] as const;

/** Every tessella stage's transform.env parameters, by stage (the pipeline's name). */
export const STAGE_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  'tile-detect': [
    'TILE_SIZE',
    'TILE_UM',
    'TARGET_MPP',
    'DOWNSAMPLE',
    'BACKGROUND_THRESHOLD',
    'MAX_BACKGROUND_FRACTION',
    'MAX_TILES',
    'QC_MAX_SIDE',
  ],
  'tile-extract': ['TILE_FORMAT', 'JPEG_QUALITY', 'JPEG_CHROMA', 'READS_IN_FLIGHT'],
  normalize: [...MODEL_PARAMETERS, 'TILE_FORMAT', 'JPEG_QUALITY', 'JPEG_CHROMA', 'PNG_COMPRESSION'],
  embed: [...MODEL_PARAMETERS, 'SESSIONS'],
  histogram: ['DECODE_CONCURRENCY'],
  'manifest-mpp': ['MANIFEST_FILE', 'IMAGE_COLUMN', 'MPP_COLUMN'],
  'merge-assign': [
    'MANIFEST_FILE',
    'PINS_FILE',
    'IMAGE_COLUMN',
    'PATIENT_COLUMN',
    'CENTER_COLUMN',
    'LABEL_COLUMN',
    'MPP_COLUMN',
    'DATASET_KIND',
    'SPLIT_FRACTIONS',
    'SPLIT_SEED',
    'EXPECTED_PATIENTS',
    'PATIENTS_PER_SHARD',
    'COMPRESSION',
  ],
  'merge-slide': [],
  'merge-shard': [],
  merge: [],
};

/**
 * transform.env names read by the runtime when the process starts, not by the stage: the C library's tunables
 * (tessella's tile stages ask glibc's malloc for transparent huge pages: see pipelines/embed.yaml).
 */
export const RUNTIME_VARIABLES: readonly string[] = ['GLIBC_TUNABLES'];

/** Set by Pachyderm, the engine or the spec for the runtime, never as a stage's parameter: not worth a log line. */
function isPlatformVariable(name: string): boolean {
  return (
    /^(PACH_|PPS_|TESSELLA_)/.test(name) ||
    name.endsWith('_COMMIT') ||
    name === 'PFS_ROOT' ||
    RUNTIME_VARIABLES.includes(name)
  );
}

export interface ParameterNameCheck {
  /** One line per refused name: what it is not, and what it probably was meant to be. */
  refused: string[];
  /** Names that are no parameter of this stage and close to none (PATH, OMP_NUM_THREADS), sorted. */
  ignored: string[];
}

/**
 * Sorts the environment's names for `stage` into its parameters, near misses of a tessella parameter (refused) and
 * the rest (ignored). Input variables (`<input>` = a datum's path) are the spec's input names, which tessella's
 * specs spell in lower case with `_`: they are ignored like any other name unless they are a near miss.
 */
export function checkParameterNames(
  stage: string,
  env: Record<string, string | undefined>,
  parameters: Readonly<Record<string, readonly string[]>> = STAGE_PARAMETERS,
): ParameterNameCheck {
  const own = new Set(parameters[stage] ?? []);
  const others = new Map<string, string[]>();
  for (const [other, names] of Object.entries(parameters))
    for (const name of names) if (!own.has(name)) others.set(name, [...(others.get(name) ?? []), other]);
  const refused: string[] = [];
  const ignored: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (own.has(name) || isPlatformVariable(name)) continue;
    const owners = others.get(name);
    if (owners) {
      refused.push(`${name}: unknown parameter of ${stage}; it is a parameter of ${owners.join(', ')}`);
      continue;
    }
    const mine = nearestName(name, own);
    if (mine) {
      refused.push(`${name}: unknown parameter of ${stage}; did you mean ${mine}?`);
      continue;
    }
    const theirs = nearestName(name, others.keys());
    if (theirs) {
      const whose = others.get(theirs)?.join(', ');
      refused.push(`${name}: unknown parameter of ${stage}; did you mean ${theirs} (a parameter of ${whose})?`);
      continue;
    }
    ignored.push(name);
  }
  return { refused, ignored };
}

/**
 * The variables that came from the pipeline's transform.env. The embedded engine names them in TESSELLA_SPEC_ENV,
 * since a local stage also inherits the user's shell (an `export BATCH_SIZE=8` for another tool must not make
 * tile-detect refuse); without it (a Pachyderm container, whose env is transform.env and Pachyderm's own) the
 * whole environment is the spec's.
 */
export function specVariables(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const listed = env.TESSELLA_SPEC_ENV;
  if (listed === undefined) return env;
  const names = new Set(listed.split(',').filter((n) => n !== ''));
  return Object.fromEntries(Object.entries(env).filter(([name]) => names.has(name)));
}

/** Throws a ConfigError listing every refused name, saying where to fix them; returns the ignored names. */
export function assertParameterNames(stage: string, env: Record<string, string | undefined>): string[] {
  if (!(stage in STAGE_PARAMETERS)) return [];
  const { refused, ignored } = checkParameterNames(stage, env);
  if (refused.length) {
    const fix = `fix the name in the ${stage} pipeline's transform.env (its parameters: ${
      STAGE_PARAMETERS[stage].join(', ') || 'none'
    })`;
    throw new ConfigError(`${refused.join('\n')}\n${fix}`);
  }
  return ignored;
}
