/**
 * Pachyderm pipeline specs (the subset the embedded engine runs; every other field Pachyderm knows is kept): the
 * zod schema the types come from, the input tree's leaves, and the checks zod cannot express (input names,
 * join and group keys, globs).
 */
import * as z from 'zod';
import { captureRefs, compileGlob, GlobError } from '../../pfs/glob.js';
import { SpecError } from './spec-error.js';

const DURATION_RE = /^([0-9]+\.?[0-9]*|\.[0-9]+)s$/;

/** A protobuf JSON duration ("3600s", "1.5s") in seconds. */
export function parseDurationSeconds(d: string): number {
  const m = DURATION_RE.exec(d.trim());
  if (!m) {
    throw new SpecError(
      `invalid duration ${JSON.stringify(d)}: Pachyderm takes protobuf JSON durations, seconds with an 's' suffix ("3600s", "1.5s"), not "1h" or "60m"`,
    );
  }
  return Number(m[1]);
}

const Duration = z.string().regex(DURATION_RE, {
  message: 'a protobuf JSON duration: seconds with an "s" suffix, e.g. "3600s" (not "1h" or "60m")',
});

const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z0-9_-]+$/, { message: 'letters, digits, "_" and "-" only' });

const PfsInputSchema = z
  .looseObject({
    name: Name.optional(),
    repo: Name,
    branch: z.string().min(1).default('master'),
    glob: z.string().min(1),
    joinOn: z.string().optional(),
    outerJoin: z.boolean().optional(),
    groupBy: z.string().optional(),
    lazy: z.boolean().optional(),
    emptyFiles: z.boolean().optional(),
  })
  .transform((p) => ({ ...p, name: p.name ?? p.repo }));

export type PfsInput = z.infer<typeof PfsInputSchema>;

export type Input =
  | { pfs: PfsInput }
  | { cross: Input[] }
  | { union: Input[] }
  | { join: Input[] }
  | { group: Input[] };

const INPUT_KINDS = ['pfs', 'cross', 'union', 'join', 'group'] as const;
const UNSUPPORTED_INPUTS = ['cron'];

// Recursive: the object form validates the children (so errors carry their path, `input.cross[1].pfs.glob`),
// then the refinement checks that exactly one kind is set.
const InputObject = z
  .looseObject({
    pfs: PfsInputSchema.optional(),
    get cross() {
      return z.array(InputSchema).min(1).optional();
    },
    get union() {
      return z.array(InputSchema).min(1).optional();
    },
    get join() {
      return z.array(InputSchema).min(1).optional();
    },
    get group() {
      return z.array(InputSchema).min(1).optional();
    },
  })
  .superRefine((v, ctx) => {
    const raw = v as Record<string, unknown>;
    for (const k of UNSUPPORTED_INPUTS) {
      if (raw[k] != null) {
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `"${k}" inputs are not run by the embedded engine; use one of ${INPUT_KINDS.join(', ')}`,
        });
      }
    }
    const kinds = INPUT_KINDS.filter((k) => raw[k] != null);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0
            ? `an input needs exactly one of ${INPUT_KINDS.join(', ')}`
            : `an input takes exactly one of ${INPUT_KINDS.join(', ')}, not ${kinds.join(' and ')}`,
      });
    }
  });

export const InputSchema: z.ZodType<Input> = InputObject as unknown as z.ZodType<Input>;

const GpuSpec = z.looseObject({ type: z.string().min(1), number: z.number().int().min(0) });
const ResourceSpec = z.looseObject({
  cpu: z.number().min(0).optional(),
  memory: z.string().optional(),
  disk: z.string().optional(),
  gpu: GpuSpec.optional(),
});

const Transform = z.looseObject({
  image: z.string().optional(),
  cmd: z.array(z.string()).min(1, { message: 'transform.cmd needs at least the program to run' }),
  stdin: z.array(z.string()).optional(),
  env: z
    .record(
      z.string(),
      z.string({
        message:
          'environment values must be strings (Pachyderm\'s rule): quote numbers and booleans, e.g. "16" or "true"',
      }),
    )
    .optional(),
  workingDir: z.string().optional(),
  errCmd: z.array(z.string()).optional(),
  errStdin: z.array(z.string()).optional(),
  acceptReturnCode: z.array(z.number().int()).optional(),
  user: z.string().optional(),
  /** one process serves many datums, each asked for with NextDatum (engine/worker/batch-executor.ts) */
  datumBatching: z.boolean().optional(),
});

export const PipelineSpecSchema = z.looseObject({
  pipeline: z.looseObject({ name: Name, project: z.looseObject({ name: z.string() }).optional() }),
  description: z.string().optional(),
  input: InputSchema,
  transform: Transform,
  parallelismSpec: z.looseObject({ constant: z.number().int().min(0).optional() }).optional(),
  datumTries: z.number().int().min(1).default(3),
  datumTimeout: Duration.optional(),
  jobTimeout: Duration.optional(),
  reprocessSpec: z.enum(['until_success', 'every_job']).default('until_success'),
  resourceLimits: ResourceSpec.optional(),
  resourceRequests: ResourceSpec.optional(),
  autoscaling: z.boolean().optional(),
  salt: z.string().optional(),
  outputBranch: z.string().optional(),
  schedulingSpec: z.looseObject({ nodeSelector: z.record(z.string(), z.string()).optional() }).optional(),
  tolerations: z.array(z.looseObject({})).optional(),
  podPatch: z.string().optional(),
  podSpec: z.string().optional(),
  metadata: z
    .looseObject({
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});

export type PipelineSpec = z.infer<typeof PipelineSpecSchema>;

/** The pfs leaves of an input, in order. */
export function inputsOf(input: Input): PfsInput[] {
  return inputLeaves(input).map((l) => l.pfs);
}

/** The pfs leaves with their field path in the spec (`input.cross[1].pfs`). */
export function inputLeaves(input: Input, field = 'input'): { pfs: PfsInput; field: string }[] {
  if ('pfs' in input) return [{ pfs: input.pfs, field: `${field}.pfs` }];
  const [kind, children] = childrenOf(input);
  return children.flatMap((c, i) => inputLeaves(c, `${field}.${kind}[${i}]`));
}

export function childrenOf(input: Input): ['cross' | 'union' | 'join' | 'group', Input[]] {
  if ('cross' in input) return ['cross', input.cross];
  if ('union' in input) return ['union', input.union];
  if ('join' in input) return ['join', input.join];
  if ('group' in input) return ['group', input.group];
  throw new Error('not a compound input');
}

/** Checks zod cannot express: unique input names, join/group children, globs and their capture groups. */
export function checkInputs(spec: PipelineSpec): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const seen = new Map<string, string>();
  for (const { pfs, field } of inputLeaves(spec.input)) {
    if (pfs.name === 'out')
      problems.push({ field: `${field}.name`, message: '"out" is reserved for the output (/pfs/out)' });
    const before = seen.get(pfs.name);
    if (before) {
      problems.push({
        field: `${field}.name`,
        message: `input name "${pfs.name}" is also used by ${before}; names must be unique (set "name" on one of them)`,
      });
    } else seen.set(pfs.name, field);
    try {
      const g = compileGlob(pfs.glob);
      for (const [key, template] of [
        ['joinOn', pfs.joinOn],
        ['groupBy', pfs.groupBy],
      ] as const) {
        if (template === undefined) continue;
        for (const n of captureRefs(template)) {
          if (n > g.groups) {
            problems.push({
              field: `${field}.${key}`,
              message: `${template} refers to capture group $${n}, but the glob ${JSON.stringify(pfs.glob)} has ${g.groups} (capture with parentheses, e.g. "/(*)")`,
            });
          }
        }
      }
    } catch (e) {
      if (e instanceof GlobError) problems.push({ field: `${field}.glob`, message: e.message });
      else throw e;
    }
  }
  walk(spec.input, 'input');
  return problems;

  function walk(input: Input, field: string): void {
    if ('pfs' in input) return;
    const [kind, children] = childrenOf(input);
    children.forEach((c, i) => {
      const f = `${field}.${kind}[${i}]`;
      if ((kind === 'join' || kind === 'group') && !('pfs' in c)) {
        problems.push({ field: f, message: `the engine supports only pfs inputs directly inside a ${kind}` });
      }
      if (kind === 'join' && 'pfs' in c && !c.pfs.joinOn) {
        problems.push({
          field: `${f}.pfs.joinOn`,
          message: 'a join input needs joinOn (e.g. glob "/(*)" with joinOn "$1")',
        });
      }
      if (kind === 'group' && 'pfs' in c && !c.pfs.groupBy) {
        problems.push({
          field: `${f}.pfs.groupBy`,
          message: 'a group input needs groupBy (e.g. glob "/(*)-*" with groupBy "$1")',
        });
      }
      walk(c, f);
    });
  }
}
