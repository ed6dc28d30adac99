/**
 * Progress of a job's datums: on a terminal one redrawn line per running job (done/skipped/failed, rate, ETA),
 * elsewhere throttled JSON events through shared/log.ts.
 */
import { formatDuration, type Logger } from '../shared/log.js';

export class JobProgress {
  processed = 0;
  skipped = 0;
  failed = 0;
  private readonly started = performance.now();
  private lastDraw = 0;
  private readonly intervalMs: number;

  constructor(
    private readonly log: Logger,
    readonly pipeline: string,
    readonly job: string,
    readonly total: number,
  ) {
    this.intervalMs = log.sink.isTTY ? 200 : 5000;
  }

  /** datums that ran in this job (after the first, to exclude the start-up from the rate) */
  get rate(): number {
    const s = (performance.now() - this.started) / 1000;
    return s > 0 ? this.processed / s : 0;
  }

  get done(): number {
    return this.processed + this.skipped + this.failed;
  }

  update(kind: 'processed' | 'skipped' | 'failed', n = 1): void {
    this[kind] += n;
    const now = performance.now();
    if (now - this.lastDraw >= this.intervalMs) {
      this.lastDraw = now;
      this.draw();
    }
  }

  line(): string {
    const rate = this.rate;
    const left = this.total - this.done;
    const eta = rate > 0 ? ` ETA ${formatDuration(left / rate)}` : '';
    const pct = this.total ? Math.floor((100 * this.done) / this.total) : 100;
    return `${this.pipeline}: ${this.done}/${this.total} ${pct}% (${this.processed} run, ${this.skipped} skipped, ${this.failed} failed) ${rate.toFixed(1)} datums/s${eta}`;
  }

  draw(): void {
    if (this.log.sink.isTTY) {
      this.log.sink.write(`\r\x1b[2K[${this.log.component}] ${this.line()}`);
    } else {
      const rate = this.rate;
      const left = this.total - this.done;
      this.log.info('job progress', {
        pipeline: this.pipeline,
        job: this.job,
        total: this.total,
        processed: this.processed,
        skipped: this.skipped,
        failed: this.failed,
        datums_per_s: Math.round(rate * 100) / 100,
        eta_s: rate > 0 ? Math.round((left / rate) * 10) / 10 : undefined,
      });
    }
  }

  /** Clears the live line (the caller then logs the job's result as one event). */
  end(): number {
    if (this.log.sink.isTTY) this.log.sink.write('\r\x1b[2K');
    return (performance.now() - this.started) / 1000;
  }
}
