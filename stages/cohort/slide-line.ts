/**
 * One manifest slide as the report and the QC page show it: in, left out or with an error, its tiles in the record,
 * and the note saying why it is not in. merge-shard makes the lines of its shard's cards, the last step those of
 * every slide (report.md's table, the cards it renders itself).
 */
import { describeSlideError } from '../../shared/slide-error.js';
import type { SlideOutcome } from './merge-file-types.js';

export type SlideStatus = 'in' | 'left out' | 'error';

/** One manifest slide as the report shows it: its status, the counts, and the note saying why it is not in. */
export interface SlideLine {
  slideId: string;
  patientId: string;
  /** the manifest line of its row (the QC page orders its cards by it) */
  line: number;
  status: SlideStatus;
  outcome: SlideOutcome;
  /** tiles in the record (0 when left out) */
  tiles: number;
  /** the error or the reason it is left out; '' when in */
  note: string;
}

/** One slide's line from its outcome and, when it was left out of the records after all, why (`excludedWhy`). */
export function slideLineOf(patientId: string, line: number, o: SlideOutcome, excludedWhy?: string): SlideLine {
  const note =
    o.status === 'error' ? describeSlideError(o.error) : o.status === 'excluded' ? o.why : (excludedWhy ?? '');
  const status: SlideStatus = o.status === 'error' ? 'error' : o.status === 'ok' && !note ? 'in' : 'left out';
  const tiles = o.status === 'ok' && excludedWhy === undefined ? o.tiles : 0;
  return { slideId: o.slideId, patientId, line, status, outcome: o, tiles, note };
}
