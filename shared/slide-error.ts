/**
 * Bad input is data: a slide that cannot be processed gets `/<slide>/error.json` and the stage exits 0.
 * Downstream stages pass it on unchanged (adding their own stage to `passedThrough`), and merge reports it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_FILE } from './contract/files.js';
import { SlideErrorSchema, type SlideError } from './contract/error-json.js';
import { withoutPfsRoot, writeFileAtomic } from './pfs.js';

export function writeSlideError(
  outDir: string,
  slideId: string,
  error: { stage: string; what: string; why: string; where?: string; hint?: string },
): SlideError {
  const record: SlideError = {
    slide: slideId,
    stage: error.stage,
    what: withoutPfsRoot(error.what),
    why: withoutPfsRoot(error.why),
    ...(error.where !== undefined ? { where: withoutPfsRoot(error.where) } : {}),
    ...(error.hint !== undefined ? { hint: withoutPfsRoot(error.hint) } : {}),
    passedThrough: [],
  };
  writeFileAtomic(join(outDir, slideId, ERROR_FILE), JSON.stringify(record, null, 2) + '\n');
  return record;
}

/** The error a slide folder carries, if any. */
export function readSlideError(slideDir: string): SlideError | undefined {
  const file = join(slideDir, ERROR_FILE);
  if (!existsSync(file)) return undefined;
  return SlideErrorSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

/** If the input slide folder carries an error, copy it to the output (noting this stage) and return true. */
export function passOnSlideError(inputSlideDir: string, outDir: string, slideId: string, stage: string): boolean {
  const error = readSlideError(inputSlideDir);
  if (!error) return false;
  const { time: _time, ...rest } = error;
  void _time;
  const passed: SlideError = { ...rest, passedThrough: [...error.passedThrough, stage] };
  writeFileAtomic(join(outDir, slideId, ERROR_FILE), JSON.stringify(passed, null, 2) + '\n');
  return true;
}

/** One-line form for logs and reports. */
export function describeSlideError(e: SlideError): string {
  return `${e.slide}: [${e.stage}] ${e.what}: ${e.why}${e.where ? ` (at ${e.where})` : ''}`;
}
