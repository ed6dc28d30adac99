/**
 * The model card (`model.json` beside `model.onnx` in the models repo): how to feed the model and how to read
 * what it returns. Validated with zod on load, then checked against the session's real inputs and outputs.
 *
 * Input:  x = (pixel * scale - mean[c]) / std[c], laid out NCHW or NHWC at size x size.
 * Output: an image (normalize: NCHW/NHWC, turned back into pixels by (y * std[c] + mean[c]) / scale, clamped),
 *         or features (embed: a CNN map NCHW/NHWC, tokens NLC, or already pooled NC).
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import type { EmbeddingVector } from '../contract/shapes.js';

const triple = z.tuple([z.number(), z.number(), z.number()]);
/** One number for all three channels, or one per channel (R, G, B). */
const perChannel = z.union([z.number().transform((v) => [v, v, v] as [number, number, number]), triple], {
  error: (issue) => `expected one number or three numbers [R, G, B], got ${describeValue(issue.input)}`,
});

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return `${v.length} value(s) ${JSON.stringify(v)}`;
  return v === undefined ? 'nothing' : `${typeof v} ${JSON.stringify(v)}`;
}

export const InputSpecSchema = z.strictObject({
  name: z.string().min(1),
  layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
  /** The square size the model was made for (embed resizes tiles to it; normalize runs at the tile size). */
  size: z.number().int().positive(),
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: perChannel.default([0, 0, 0]),
  std: perChannel.default([1, 1, 1]).refine((s) => s.every((v) => v !== 0), { error: 'std must not contain 0' }),
});

export const OutputSpecSchema = z.strictObject({
  name: z.string().min(1),
  /** NCHW/NHWC: a map (an image for normalize, a feature map for embed); NLC: tokens; NC: pooled features. */
  layout: z.enum(['NCHW', 'NHWC', 'NLC', 'NC']),
  /** Image outputs only: pixel = clamp((y * std + mean) / scale, 0, 255), rounded. */
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: perChannel.default([0, 0, 0]),
  std: perChannel.default([1, 1, 1]),
});

/**
 * How the output is pooled to one vector per tile, and so which vectors embed writes (POOLING_VECTORS):
 *   mean+max  the mean and the max over positions (a CNN map's H*W, or the tokens after the prefix): avg, max
 *   mean      the mean over positions: avg
 *   cls       the class token (token 0 of NLC tokens): cls
 *   cls+mean  the class token and the mean of the patch tokens: cls, avg (Virchow's embedding is the two joined)
 */
export const POOLING_MODES = ['mean+max', 'mean', 'cls', 'cls+mean'] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];
export const POOLING_VECTORS: Record<PoolingMode, readonly EmbeddingVector[]> = {
  'mean+max': ['avg', 'max'],
  mean: ['avg'],
  cls: ['cls'],
  'cls+mean': ['avg', 'cls'],
};
/** The pooling of cards that name none: mean and max over positions, as every card before modes. */
export const DEFAULT_POOLING_MODE: PoolingMode = 'mean+max';

export const PoolingSchema = z
  .strictObject({
    /** Which vectors: see POOLING_MODES. Left out: mean+max. */
    mode: z
      .enum(POOLING_MODES, {
        error: (issue) =>
          `unknown pooling mode ${JSON.stringify(issue.input)}; valid modes: ${POOLING_MODES.join(', ')}`,
      })
      .optional(),
    /**
     * Tokens at the start of an NLC output that are not patch tokens (a ViT's class token, its registers): left out of
     * the mean and the max. With `registers`, 1 + registers.
     */
    skipTokens: z.number().int().min(0).default(0),
    /** Register tokens after the class token (DINOv2 with registers, Virchow2, UNI2-h...): left out of the mean. */
    registers: z.number().int().min(0).optional(),
  })
  .default({ skipTokens: 0 });

/**
 * The resolution and input size the model was trained at. embed records them; merge warns (it does not fail) when
 * tile-detect's tiles, brought to the card's input size, disagree by more than `tolerance` (relative).
 */
export const GeometrySchema = z.strictObject({
  /** Micrometres per pixel of the model's input at training. */
  mpp: z.number().positive(),
  /** The side in pixels of the model's input at training; left out: the card's input size. */
  size: z.number().int().positive().optional(),
  /** How far (relative) the tiles' resolution may be from `mpp` before merge warns; default 0.1. */
  tolerance: z.number().positive().max(1).optional(),
});

export const ModelCardSchema = z
  .strictObject({
    name: z.string().min(1),
    /** Which stage consumes the model (its folder in the models repo). */
    task: z.enum(['normalize', 'embed']),
    description: z.string().optional(),
    input: InputSpecSchema,
    output: OutputSpecSchema,
    pooling: PoolingSchema,
    geometry: GeometrySchema.optional(),
    /** Where the weights came from, their license: free text for people. */
    source: z.string().optional(),
  })
  .superRefine((card, ctx) => {
    const mode = card.pooling.mode ?? DEFAULT_POOLING_MODE;
    if (mode.startsWith('cls') && card.output.layout !== 'NLC')
      ctx.addIssue({
        code: 'custom',
        path: ['pooling', 'mode'],
        message: `mode '${mode}' reads the class token of NLC tokens, but the output layout is ${card.output.layout}; use mean+max or mean`,
      });
    const { registers, skipTokens } = card.pooling;
    if (registers !== undefined && skipTokens !== 0 && skipTokens !== 1 + registers)
      ctx.addIssue({
        code: 'custom',
        path: ['pooling', 'skipTokens'],
        message: `skipTokens ${skipTokens} disagrees with registers ${registers} (a class token and ${registers} registers are ${1 + registers} tokens); give one of them`,
      });
    if ((registers ?? skipTokens) > 0 && card.output.layout !== 'NLC')
      ctx.addIssue({
        code: 'custom',
        path: ['pooling'],
        message: `skipTokens and registers apply to NLC tokens, but the output layout is ${card.output.layout}`,
      });
  });
export type ModelCard = z.infer<typeof ModelCardSchema>;
export type ModelCardInput = z.input<typeof ModelCardSchema>;

export class ModelCardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelCardError';
  }
}

/** The keys a card's objects take, by path, for naming the nearest one to an unknown key. */
const CARD_KEYS: Record<string, string[]> = {
  '': Object.keys(ModelCardSchema.shape),
  input: Object.keys(InputSpecSchema.shape),
  output: Object.keys(OutputSpecSchema.shape),
  pooling: Object.keys(PoolingSchema.unwrap().shape),
  geometry: Object.keys(GeometrySchema.shape),
};

/** Levenshtein distance: the typo's distance to each valid key picks the suggestion. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The valid key nearest to `key` when it is close enough to be a typo of it. */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of valid) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.k : undefined;
}

function issueLines(issue: z.core.$ZodIssue): string[] {
  const at = issue.path.join('.');
  if (issue.code !== 'unrecognized_keys') return [`${at || '(root)'}: ${issue.message}`];
  const valid = CARD_KEYS[at] ?? [];
  return issue.keys.map((key) => {
    const near = nearestKey(key, valid);
    const hint = near ? `did you mean ${near}?` : `valid keys: ${valid.join(', ')}`;
    return `${at ? `${at}.` : ''}${key}: unknown key; ${hint}`;
  });
}

export function parseModelCard(json: unknown, where = 'model.json'): ModelCard {
  const result = ModelCardSchema.safeParse(json);
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap(issueLines);
  throw new ModelCardError(`${where}: invalid model card:\n  ${lines.join('\n  ')}`);
}

export function readModelCard(path: string): ModelCard {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ModelCardError(`${path}: cannot read the model card: ${(err as Error).message}`);
  }
  return parseModelCard(json, path);
}

/** What a session says about one of its inputs or outputs (a plain copy of ORT's ValueMetadata). */
export interface TensorInfo {
  name: string;
  isTensor: boolean;
  type?: string;
  /** Numbers are fixed dims, strings symbolic ones; empty when the model does not say. */
  shape: (number | string)[];
}

/** The element types a model may take and give: float16 is converted at the session (pixel-io.ts, worker.ts). */
const FLOAT_TYPES = ['float32', 'float16'];

const RANK: Record<ModelCard['output']['layout'], number> = { NCHW: 4, NHWC: 4, NLC: 3, NC: 2 };

export function describeShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

function describeAll(infos: TensorInfo[]): string {
  return infos.map((i) => `'${i.name}' ${i.type ?? ''}${describeShape(i.shape)}`).join(', ') || 'none';
}

/** The input shape the card asks for at a given spatial size (N symbolic). */
export function expectedInputShape(card: ModelCard, size = card.input.size): (number | string)[] {
  return card.input.layout === 'NCHW' ? ['N', 3, size, size] : ['N', size, size, 3];
}

/**
 * Check the card against the session's inputs and outputs; every problem names the card's value and the
 * model's. Returns the problems (empty when they agree).
 */
export function cardMismatches(card: ModelCard, inputs: TensorInfo[], outputs: TensorInfo[]): string[] {
  const problems: string[] = [];
  const input = inputs.find((i) => i.name === card.input.name);
  if (!input) {
    problems.push(
      `the card's input '${card.input.name}' is not an input of the model (the model has ${describeAll(inputs)})`,
    );
  } else {
    if (inputs.length > 1)
      problems.push(`the model has ${inputs.length} inputs (${describeAll(inputs)}); one image input is supported`);
    if (input.type && !FLOAT_TYPES.includes(input.type))
      problems.push(`input '${input.name}' is ${input.type}; ${FLOAT_TYPES.join(' and ')} are supported`);
    const want = expectedInputShape(card);
    if (input.shape.length && input.shape.length !== 4) {
      problems.push(
        `input '${input.name}' has shape ${describeShape(input.shape)}, the card's ${card.input.layout} needs rank 4 ${describeShape(want)}`,
      );
    } else if (input.shape.length) {
      const channelAxis = card.input.layout === 'NCHW' ? 1 : 3;
      const c = input.shape[channelAxis];
      if (typeof c === 'number' && c !== 3) {
        problems.push(
          `input '${input.name}' has shape ${describeShape(input.shape)}: ${c} channels on the card's ${card.input.layout} channel axis, 3 (RGB) needed; card wants ${describeShape(want)}`,
        );
      }
      const spatial = card.input.layout === 'NCHW' ? [2, 3] : [1, 2];
      for (const axis of spatial) {
        const d = input.shape[axis];
        if (typeof d === 'number' && d !== card.input.size) {
          problems.push(
            `input '${input.name}' has shape ${describeShape(input.shape)} but the card says size ${card.input.size} (${describeShape(want)})`,
          );
          break;
        }
      }
    }
  }
  const output = outputs.find((o) => o.name === card.output.name);
  if (!output) {
    problems.push(
      `the card's output '${card.output.name}' is not an output of the model (the model has ${describeAll(outputs)})`,
    );
  } else {
    if (output.type && !FLOAT_TYPES.includes(output.type))
      problems.push(`output '${output.name}' is ${output.type}; ${FLOAT_TYPES.join(' and ')} are supported`);
    const rank = RANK[card.output.layout];
    if (output.shape.length && output.shape.length !== rank) {
      problems.push(
        `output '${output.name}' has shape ${describeShape(output.shape)} (rank ${output.shape.length}) but the card's layout ${card.output.layout} needs rank ${rank}`,
      );
    }
    if (card.task === 'normalize') {
      if (card.output.layout !== 'NCHW' && card.output.layout !== 'NHWC') {
        problems.push(`a normalize model must return an image (NCHW or NHWC), the card says ${card.output.layout}`);
      } else if (output.shape.length === 4) {
        const c = output.shape[card.output.layout === 'NCHW' ? 1 : 3];
        if (typeof c === 'number' && c !== 3)
          problems.push(
            `output '${output.name}' has shape ${describeShape(output.shape)}: ${c} channels, a normalize model must return 3 (RGB)`,
          );
      }
    }
  }
  return problems;
}

/** The feature width D an embed model's output promises, when its shape fixes it. */
export function featureDim(card: ModelCard, output: TensorInfo | undefined): number | undefined {
  if (!output?.shape.length) return undefined;
  const axis = { NCHW: 1, NHWC: 3, NLC: 2, NC: 1 }[card.output.layout];
  const d = output.shape[axis];
  return typeof d === 'number' ? d : undefined;
}

/** A card's pooling resolved: its mode, the vectors it writes, and the prefix tokens left out of the mean and max. */
export interface PoolingPlan {
  mode: PoolingMode;
  vectors: readonly EmbeddingVector[];
  /** Tokens before the patch tokens (class token, registers); 0 for maps and pooled outputs. */
  prefixTokens: number;
}

export function poolingPlan(card: ModelCard): PoolingPlan {
  const mode = card.pooling.mode ?? DEFAULT_POOLING_MODE;
  const { registers, skipTokens } = card.pooling;
  // a class token is token 0: the cls modes leave it out of the mean whatever skipTokens says
  const prefixTokens =
    registers !== undefined ? 1 + registers : mode.startsWith('cls') ? Math.max(1, skipTokens) : skipTokens;
  return { mode, vectors: POOLING_VECTORS[mode], prefixTokens };
}
