/**
 * A job's datums on the shared progress meter (shared/progress.ts): counted as run, skipped or failed; the rate
 * is over the datums that ran (skipped ones cost nothing and would flatter the ETA). On a terminal one line per
 * running job, elsewhere throttled `job progress` events.
 */
import type { Fields, Logger } from '../shared/log.js';
import { formatDuration, Progress, round } from '../shared/progress.js';

export class JobProgress extends Progress {
  processed = 0;
  skipped = 0;
  failed = 0;

  constructor(
    log: Logger,
    readonly pipeline: string,
    readonly job: string,
    total: number,
  ) {
    super(log, pipeline, total, 'datums');
  }

  override get count(): number {
    return this.processed + this.skipped + this.failed;
  }

  get done(): number {
    return this.count;
  }

  protected override get rated(): number {
    return this.processed;
  }

  update(kind: 'processed' | 'skipped' | 'failed', n = 1): void {
    this[kind] += n;
    this.drawThrottled();
  }

  override tick(n = 1): void {
    this.update('processed', n);
  }

  override line(): string {
    const total = this.total ?? 0;
    const eta = this.eta;
    const pct = total ? Math.floor((100 * this.done) / total) : 100;
    return `${this.pipeline}: ${this.done}/${total} ${pct}% (${this.processed} run, ${this.skipped} skipped, ${this.failed} failed) ${this.rate.toFixed(1)} datums/s${eta !== undefined ? ` ETA ${formatDuration(eta)}` : ''}`;
  }

  protected override event(): [string, Fields] {
    const eta = this.eta;
    return [
      'job progress',
      {
        pipeline: this.pipeline,
        job: this.job,
        total: this.total,
        processed: this.processed,
        skipped: this.skipped,
        failed: this.failed,
        datums_per_s: round(this.rate, 2),
        eta_s: eta !== undefined ? round(eta, 1) : undefined,
      },
    ];
  }
}
