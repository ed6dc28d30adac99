/** The progress meter over bytes (fsck's blob pass): sizes and rates in KiB/MiB/GiB instead of raw counts. */
import type { Fields, Logger } from '../../shared/log.js';
import { formatDuration, Progress, round } from '../../shared/progress.js';
import { humanBytes } from '../cli/format.js';

export class BytesProgress extends Progress {
  constructor(log: Logger, label: string, total: number) {
    super(log, label, total, 'bytes');
  }

  override line(): string {
    const pct = this.total ? ` ${Math.floor((100 * this.count) / this.total)}%` : '';
    const eta = this.eta;
    return (
      `${this.label} ${humanBytes(this.count)}/${humanBytes(this.total ?? 0)}${pct} ${humanBytes(this.rate)}/s` +
      (eta !== undefined ? ` ETA ${formatDuration(eta)}` : '')
    );
  }

  protected override event(): [string, Fields] {
    const [name, fields] = super.event();
    return [name, { ...fields, bytes_per_s: round(this.rate, 0) }];
  }
}
