/**
 * The model card (`model.json` beside `model.onnx` in the models repo): how to feed the model and how to read
 * what it returns. Validated with zod on load, then checked against the session's real inputs and outputs.
 *
 * Input:  x = (pixel * scale - mean[c]) / std[c], laid out NCHW or NHWC at size x size.
 * Output: an image (normalize: NCHW/NHWC, turned back into pixels by (y * std[c] + mean[c]) / scale, clamped),
 *         or features (embed: a CNN map NCHW/NHWC, tokens NLC, or already pooled NC).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const triple = z.tuple([z.number(), z.number(), z.number()]);
/** One number for all three channels, or one per channel (R, G, B). */
const perChannel = z.union([z.number().transform((v) => [v, v, v] as [number, number, number]), triple], {
  error: (issue) => `expected one number or three numbers [R, G, B], got ${describeValue(issue.input)}`,
});

function describeValue(v: unknown): string {
  if (Array.isArray(v)) return `${v.length} value(s) ${JSON.stringify(v)}`;
  return v === undefined ? 'nothing' : `${typeof v} ${JSON.stringify(v)}`;
}

export const InputSpecSchema = z.object({
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

export const OutputSpecSchema = z.object({
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

export const PoolingSchema = z
  .object({
    /** Tokens to leave out of the pool at the start of an NLC output (1 for a ViT's class token). */
    skipTokens: z.number().int().min(0).default(0),
  })
  .default({ skipTokens: 0 });

export const ModelCardSchema = z.object({
  name: z.string().min(1),
  /** Which stage consumes the model (its folder in the models repo). */
  task: z.enum(['normalize', 'embed']),
  description: z.string().optional(),
  input: InputSpecSchema,
  output: OutputSpecSchema,
  pooling: PoolingSchema,
  /** Where the weights came from, their license: free text for people. */
  source: z.string().optional(),
});
export type ModelCard = z.infer<typeof ModelCardSchema>;
export type ModelCardInput = z.input<typeof ModelCardSchema>;

export class ModelCardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelCardError';
  }
}

export function parseModelCard(json: unknown, where = 'model.json'): ModelCard {
  const result = ModelCardSchema.safeParse(json);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
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
    if (input.type && input.type !== 'float32')
      problems.push(`input '${input.name}' is ${input.type}; float32 is supported`);
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
    if (output.type && output.type !== 'float32')
      problems.push(`output '${output.name}' is ${output.type}; float32 is supported`);
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
