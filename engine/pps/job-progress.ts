/**
 * A job's datums on the shared progress meter (shared/progress.ts): counted as run, skipped or failed; the rate
 * is over the datums that ran (skipped ones cost nothing and would flatter the ETA). Elsewhere throttled `job
 * progress` events. On a terminal a live block: the job's line with the tiles/s of all its datums so far, then a
 * line per running datum with its own progress (tiles done of total, tiles/s, ETA), read from the stages'
 * progress events in the datums' logs (datum-log-follower.ts).
 */
import type { Fields, Logger } from '../../shared/log.js';
import { formatDuration, Progress, round } from '../../shared/progress.js';
import { DatumLogFollower, type DatumProgress } from './datum-log-follower.js';

/** Redraws of the live block (the datums' own events come about once a second). */
const LIVE_MS = 500;
/** Running datums shown, the rest summed up in one line. */
const MAX_DATUM_LINES = 8;

export class JobProgress extends Progress {
  processed = 0;
  skipped = 0;
  failed = 0;

  private readonly follower: DatumLogFollower | undefined;
  private timer: NodeJS.Timeout | undefined;
  private datums: DatumProgress[] = [];

  /** `datumLogs`: the folder of this job's datum logs, followed on a terminal. */
  constructor(
    log: Logger,
    readonly pipeline: string,
    readonly job: string,
    total: number,
    datumLogs?: string,
  ) {
    super(log, pipeline, total, 'datums');
    if (datumLogs && log.sink.isTTY) {
      this.follower = new DatumLogFollower(datumLogs);
      // datum processes write to their logs, not a terminal: ask them for an event about every second
      process.env.TESSELLA_PROGRESS_INTERVAL_MS ??= '1000';
      this.timer = setInterval(() => this.draw(), LIVE_MS);
      this.timer.unref();
    }
  }

  override draw(): void {
    if (this.follower) this.datums = this.follower.poll();
    super.draw();
  }

  override end(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.follower?.close();
    return super.end();
  }

  /** Tiles (or the stages' other unit) done by this job's datums so far, and their rate over the job's time. */
  get items(): { unit: string; done: number; rate: number } | undefined {
    if (!this.datums.length) return undefined;
    const unit = this.datums[0].unit;
    const done = this.datums.filter((d) => d.unit === unit).reduce((s, d) => s + d.done, 0);
    return { unit, done, rate: this.seconds > 0 ? done / this.seconds : 0 };
  }

  override lines(): string[] {
    const items = this.items;
    const first = this.line() + (items ? `, ${items.done} ${items.unit} ${items.rate.toFixed(1)} ${items.unit}/s` : '');
    const running = this.datums.filter((d) => !d.finished);
    const shown = running.slice(0, MAX_DATUM_LINES).map((d) => `  ${datumLine(d)}`);
    if (running.length > shown.length) shown.push(`  ... and ${running.length - shown.length} more running`);
    return [first, ...shown];
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

/** `S03 normalize 312/426 73% 41.2 tiles/s ETA 3s` */
export function datumLine(d: DatumProgress): string {
  const name = d.slide ?? d.datum.slice(0, 12);
  const of = d.total !== undefined ? `/${d.total}` : '';
  const pct = d.total ? ` ${Math.floor((100 * d.done) / d.total)}%` : '';
  const eta = d.eta !== undefined ? ` ETA ${formatDuration(d.eta)}` : '';
  return `${name} ${d.label} ${d.done}${of}${pct} ${d.rate.toFixed(1)} ${d.unit}/s${eta}`;
}
