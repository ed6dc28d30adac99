/**
 * Every key Pachyderm's pipeline spec has, object by object (its CreatePipelineRequest schema, which sets
 * `additionalProperties: false` on each), and the check that refuses any other key with the nearest valid name.
 * A key the engine does not run is still Pachyderm's and passes; a typo (`paralellismSpec`, `transform.evn`) would
 * otherwise be stored and ignored, and the pipeline would run with defaults the user did not write.
 */
import { editDistance } from '../../../shared/nearest-name.js';
import { snakeToCamel } from './documents.js';

/** What a key holds: an object of known keys, a list of those, a map of the user's own names, or a value. */
type Shape = { keys: () => Record<string, Shape> } | { listOf: Shape } | 'names' | 'value';

const obj = (keys: () => Record<string, Shape>): Shape => ({ keys });
const V = 'value' as const;

const project = obj(() => ({ name: V }));
const gpu = obj(() => ({ type: V, number: V }));
const resources = obj(() => ({ cpu: V, memory: V, gpu, disk: V }));
const service = obj(() => ({ internalPort: V, externalPort: V, ip: V, type: V }));

const pfsInput = obj(() => ({
  project: V,
  name: V,
  repo: V,
  repoType: V,
  branch: V,
  commit: V,
  glob: V,
  joinOn: V,
  outerJoin: V,
  groupBy: V,
  lazy: V,
  emptyFiles: V,
  s3: V,
  trigger: obj(() => ({ branch: V, all: V, rateLimitSpec: V, size: V, commits: V, cronSpec: V })),
  propagationSpec: obj(() => ({ never: V })),
  reference: V,
}));

const input: Shape = obj(() => ({
  pfs: pfsInput,
  join: { listOf: input },
  group: { listOf: input },
  cross: { listOf: input },
  union: { listOf: input },
  cron: obj(() => ({ name: V, project: V, repo: V, commit: V, spec: V, overwrite: V, start: V })),
}));

const transform = obj(() => ({
  image: V,
  cmd: V,
  errCmd: V,
  env: 'names',
  secrets: { listOf: obj(() => ({ name: V, key: V, mountPath: V, envVar: V })) },
  imagePullSecrets: V,
  stdin: V,
  errStdin: V,
  acceptReturnCode: V,
  debug: V,
  user: V,
  workingDir: V,
  dockerfile: V,
  memoryVolume: V,
  datumBatching: V,
}));

const egress = obj(() => ({
  URL: V,
  objectStorage: obj(() => ({ url: V })),
  sqlDatabase: obj(() => ({
    url: V,
    fileFormat: obj(() => ({ type: V, columns: V })),
    secret: obj(() => ({ name: V, key: V })),
  })),
}));

/** The top of a spec: Pachyderm's CreatePipelineRequest. */
export const PIPELINE_SPEC_SHAPE: Shape = obj(() => ({
  pipeline: obj(() => ({ project, name: V })),
  tfJob: obj(() => ({ tfJob: V })),
  transform,
  parallelismSpec: obj(() => ({ constant: V })),
  egress,
  outputBranch: V,
  s3Out: V,
  resourceRequests: resources,
  resourceLimits: resources,
  sidecarResourceLimits: resources,
  sidecarResourceRequests: resources,
  input,
  description: V,
  service,
  spout: obj(() => ({ service })),
  datumSetSpec: obj(() => ({ number: V, sizeBytes: V, perWorker: V })),
  datumTimeout: V,
  jobTimeout: V,
  salt: V,
  datumTries: V,
  schedulingSpec: obj(() => ({ nodeSelector: 'names', priorityClassName: V })),
  podSpec: V,
  podPatch: V,
  metadata: obj(() => ({ annotations: 'names', labels: 'names' })),
  reprocessSpec: V,
  autoscaling: V,
  tolerations: { listOf: obj(() => ({ key: V, operator: V, value: V, effect: V, tolerationSeconds: V })) },
  determined: obj(() => ({ workspaces: V })),
  maximumExpectedUptime: V,
}));

export interface UnknownKey {
  /** where, in the keys as the user wrote them: `transform.evn`, `input.cross[1].pfs.glb` */
  field: string;
  message: string;
}

/**
 * The keys of a raw spec document (before camelCase conversion) that Pachyderm's spec does not have, each with the
 * nearest valid name in the user's own spelling (snake_case when the key was written so).
 */
export function unknownKeys(doc: unknown, shape: Shape = PIPELINE_SPEC_SHAPE, where = ''): UnknownKey[] {
  if (shape === 'names' || shape === 'value' || doc === null || typeof doc !== 'object') return [];
  if ('listOf' in shape) {
    return Array.isArray(doc) ? doc.flatMap((item, i) => unknownKeys(item, shape.listOf, `${where}[${i}]`)) : [];
  }
  if (Array.isArray(doc)) return [];
  const known = shape.keys();
  const out: UnknownKey[] = [];
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const field = where ? `${where}.${key}` : key;
    const child = known[snakeToCamel(key)];
    if (child) {
      out.push(...unknownKeys(value, child, field));
      continue;
    }
    const near = nearestKey(snakeToCamel(key), Object.keys(known));
    const spelled = near && key.includes('_') ? camelToSnake(near) : near;
    out.push({
      field,
      message: spelled
        ? `unknown key; did you mean ${spelled}?`
        : `unknown key; the keys here are ${Object.keys(known).join(', ')}`,
    });
  }
  return out;
}

/** The valid key a mistyped one is closest to, when it is close enough to be a typo of it. */
function nearestKey(key: string, known: string[]): string | undefined {
  let best: { name: string; edits: number } | undefined;
  for (const name of known) {
    const edits = editDistance(key.toLowerCase(), name.toLowerCase());
    // a third of the name's letters, at least one: `evn` for env, `paralellismSpec`, `datumTimout`
    if (edits > Math.max(1, Math.floor(Math.min(key.length, name.length) / 3))) continue;
    if (!best || edits < best.edits) best = { name, edits };
  }
  return best?.name;
}

function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
