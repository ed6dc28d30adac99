/**
 * `/<slide>/error.json`: a slide stage's output in place of its files when the slide cannot be processed (bad input
 * is data, the stage exits 0). Each stage after it copies the file on, adding itself to `passedThrough`.
 */
import * as z from 'zod';

export const SlideErrorSchema = z.object({
  slide: z.string(),
  stage: z.string(),
  what: z.string(),
  why: z.string(),
  where: z.string().optional(),
  hint: z.string().optional(),
  /** Older error.json files carried a time; outputs are a pure function of inputs, so none is written now. */
  time: z.string().optional(),
  passedThrough: z.array(z.string()).default([]),
});
export type SlideError = z.infer<typeof SlideErrorSchema>;
