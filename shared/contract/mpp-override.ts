/**
 * manifest-mpp's `/mpp/<slide>.json`: a slide's resolution given by the manifest, which wins over the slide's own
 * when tile-detect tiles by physical size. Only the value and where it came from (file and column, no row number),
 * so the file changes, and tile-detect re-runs, only when that slide's value does.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { withoutPfsRoot } from '../pfs.js';

/** The range a manifest resolution must lie in, in micrometres per pixel (scanners write ~0.1 to ~10). */
export const MPP_RANGE = { min: 0.05, max: 100 } as const;

export const MppOverrideSchema = z.object({
  /** micrometres per level-0 pixel, both axes */
  mpp: z.number().min(MPP_RANGE.min).max(MPP_RANGE.max),
  /** e.g. "manifest.csv, column 'mpp'" */
  source: z.string(),
});
export type MppOverride = z.infer<typeof MppOverrideSchema>;

export function mppOverrideText(o: MppOverride): string {
  const { mpp, source } = MppOverrideSchema.parse(o);
  return JSON.stringify({ mpp, source }) + '\n';
}

export function readMppOverride(file: string): MppOverride {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${withoutPfsRoot(file)}: not readable JSON: ${(err as Error).message}`);
  }
  const parsed = MppOverrideSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new Error(`${withoutPfsRoot(file)}: not a manifest-mpp resolution file: ${issues}`);
  }
  return parsed.data;
}
