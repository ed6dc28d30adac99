/**
 * The files between the merge pipelines that carry a schema: merge-assign's `/slides/<slide>.json`, read by
 * merge-slide. (cohort.json, slide.json and the shard summaries: stages/cohort/merge-file-types.ts.)
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { withoutPfsRoot } from '../pfs.js';

export const AssignedSlideSchema = z.object({
  slide: z.string(),
  patient: z.string(),
  /** manifest line of the slide's row */
  line: z.number().int(),
  /** this slide's place among its patient's slides (manifest order) and how many the patient has */
  slideIndex: z.number().int().nonnegative(),
  patientSlides: z.number().int().positive(),
  set: z.string(),
  shard: z.number().int().nonnegative(),
  shards: z.number().int().positive(),
  /** `<set>/<set>-NNNNN-of-MMMMM.tfrecord` */
  file: z.string(),
  center: z.string(),
  centerId: z.number().int(),
  label: z.number().int().optional(),
  /** the label's name (the QC card shows it) */
  labelName: z.string().optional(),
  seed: z.string(),
  compression: z.enum(['none', 'gzip']),
});
export type AssignedSlide = z.infer<typeof AssignedSlideSchema>;

export function readAssignedSlide(file: string): AssignedSlide {
  const parsed = AssignedSlideSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${withoutPfsRoot(file)}: not a merge-assign slide file: ${issues}`);
  }
  return parsed.data;
}
