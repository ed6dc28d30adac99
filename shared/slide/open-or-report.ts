/**
 * Open a slide, or record why it cannot be opened as the slide's error.json (bad input is data: the stage then
 * exits 0). Every stage that reads slides starts with this.
 */
import type { Logger } from '../log.js';
import { writeSlideError } from '../slide-error.js';
import { openSlide } from './open.js';
import { SlideOpenError, type Slide } from './types.js';

export async function openSlideOrReport(
  slideDir: string,
  outDir: string,
  slideId: string,
  stage: string,
  log: Logger,
): Promise<Slide | undefined> {
  try {
    return await openSlide(slideDir);
  } catch (err) {
    if (!(err instanceof SlideOpenError)) throw err;
    writeSlideError(outDir, slideId, {
      stage,
      what: 'the slide cannot be opened',
      why: err.why,
      where: err.path,
      hint: 'check that the file is a whole-slide image OpenSlide or libvips reads, and that it was copied whole',
    });
    log.warn('slide cannot be opened: wrote error.json', { why: err.why });
    return undefined;
  }
}
