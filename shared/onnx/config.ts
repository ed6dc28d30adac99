/** The parameters every model stage takes from `transform.env`. */
import * as z from 'zod';
import { envEnum, envInt, envList } from '../config.js';
import { DEFAULT_PROVIDERS, type SessionSettings } from './providers.js';

export const modelEnvFields = {
  /** Providers by preference; each is tried and the next used when it cannot start. */
  EXECUTION_PROVIDERS: envList().default(DEFAULT_PROVIDERS),
  /** Tiles per session.run; 0 picks by provider (CPU: normalize 8, embed 32; GPU: 32, 128). */
  BATCH_SIZE: envInt({ min: 0, max: 4096 }).default(0),
  /** ONNX Runtime intra-op threads; 0 = on CPU every core (its threads do not spin), else ORT's default. */
  INTRA_OP_THREADS: envInt({ min: 0, max: 256 }).default(0),
  INTER_OP_THREADS: envInt({ min: 0, max: 256 }).default(0),
  /** on: ORT's idle threads spin-wait (its own default; lower latency on a core nothing else needs); off: sleep. */
  THREAD_SPINNING: envEnum(['off', 'on'] as const).default('off'),
  /**
   * onnx: tiles go to the model as uint8 pixels and the card's arithmetic runs as ONNX nodes (shared/onnx/pixel-io.ts;
   * models it cannot wrap fall back by themselves); js: floats filled, and images read back, on the main thread.
   */
  PIXEL_CONVERSION: envEnum(['onnx', 'js'] as const).default('onnx'),
  /**
   * model: run the model in the precision it was exported in (a float16 export runs in float16 anywhere). fp16: a
   * float32 model in half precision where ONNX Runtime allows it (TensorRT); elsewhere float32, with the reason logged.
   */
  PRECISION: envEnum(['model', 'fp16'] as const).default('model'),
};

export const ModelEnvSchema = z.object(modelEnvFields);

export function sessionSettings(cfg: z.infer<typeof ModelEnvSchema>): SessionSettings {
  return {
    providers: cfg.EXECUTION_PROVIDERS.map((p) => p.toLowerCase()),
    intraOpThreads: cfg.INTRA_OP_THREADS,
    interOpThreads: cfg.INTER_OP_THREADS,
    spinning: cfg.THREAD_SPINNING === 'on',
    ...(cfg.PRECISION === 'fp16' ? { fp16: true } : {}),
  };
}
