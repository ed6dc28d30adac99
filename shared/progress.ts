/**
 * The one progress meter, for the stages (tiles) and the engine (a job's datums): on a terminal one redrawn
 * line with the count, items/s and ETA; elsewhere (containers, CI, files) throttled JSON events through the
 * logger. Subclasses change what is counted and how it reads (engine/pps/job-progress.ts: a job's datums).
 */
import type { Fields, Logger } from './log.js';

let meters = 0;

export class Progress {
  private n = 0;
  /** This meter's block in a terminal's footer (meters drawn at once each keep their own). */
  private readonly footerKey = `progress-${++meters}`;
  private readonly started = performance.now();
  private lastDraw = 0;
  private finished = false;
  /** Minimum milliseconds between redraws (TTY) or JSON progress events. */
  readonly intervalMs: number;

  constructor(
    protected readonly log: Logger,
    readonly label: string,
    readonly total: number | undefined,
    readonly unit = 'items',
    intervalMs?: number,
  ) {
    this.intervalMs = intervalMs ?? (log.sink.isTTY ? 200 : offTerminalIntervalMs());
  }

  tick(n = 1): void {
    this.n += n;
    this.drawThrottled();
  }

  /** Items done. */
  get count(): number {
    return this.n;
  }

  /** The items the rate is over (a job's datums: the ones that ran, not the skipped). */
  protected get rated(): number {
    return this.count;
  }

  get seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** `rated` items per second, averaged over the whole run so far (not a moving window). */
  get rate(): number {
    const s = this.seconds;
    return s > 0 ? this.rated / s : 0;
  }

  /** Seconds left at that average rate; undefined without a total or a rate. */
  get eta(): number | undefined {
    const rate = this.rate;
    return this.total !== undefined && rate > 0 ? (this.total - this.count) / rate : undefined;
  }

  protected drawThrottled(): void {
    const now = performance.now();
    if (now - this.lastDraw >= this.intervalMs) {
      this.lastDraw = now;
      this.draw();
    }
  }

  /** The terminal lines, the first after the component tag (a job adds its running datums). */
  lines(): string[] {
    return [this.line()];
  }

  /** The terminal line (after the component tag). */
  line(): string {
    const of = this.total !== undefined ? `/${this.total}` : '';
    const pct = this.total ? ` ${Math.floor((100 * this.count) / this.total)}%` : '';
    const eta = this.eta;
    return `${this.label} ${this.count}${of}${pct} ${this.rate.toFixed(1)} ${this.unit}/s${eta !== undefined ? ` ETA ${formatDuration(eta)}` : ''}`;
  }

  /** The JSON event off a terminal: its name and fields. */
  protected event(): [string, Fields] {
    const eta = this.eta;
    return [
      `${this.label} progress`,
      {
        done: this.count,
        total: this.total,
        [`${this.unit}_per_s`]: round(this.rate, 2),
        eta_s: eta !== undefined ? round(eta, 1) : undefined,
      },
    ];
  }

  draw(): void {
    const sink = this.log.sink;
    if (!sink.isTTY) {
      this.log.info(...this.event());
      return;
    }
    const [first, ...rest] = this.lines();
    const tagged = `[${this.log.component}] ${first}`;
    if (sink.footer) sink.footer([tagged, ...rest], this.footerKey);
    else sink.write(`${clearLine()}${tagged}`);
  }

  /** Clears the live line(s); returns the seconds since the start (the caller logs the result itself). */
  end(): number {
    const sink = this.log.sink;
    if (sink.isTTY) {
      if (sink.footer) sink.footer([], this.footerKey);
      else sink.write(clearLine());
    }
    return this.seconds;
  }

  /** Clears the live line and logs `<label> done` with the count, seconds and rate (once). */
  finish(fields: Fields = {}): { count: number; seconds: number; rate: number } {
    const summary = { count: this.count, seconds: round(this.seconds, 3), rate: round(this.rate, 2) };
    if (!this.finished) {
      this.finished = true;
      this.end();
      this.log.info(`${this.label} done`, {
        [this.unit]: this.count,
        seconds: summary.seconds,
        [`${this.unit}_per_s`]: summary.rate,
        ...fields,
      });
    }
    return summary;
  }
}

/**
 * Progress events off a terminal: every 5 s, or $TESSELLA_PROGRESS_INTERVAL_MS (the engine asks its datums for
 * about one a second when it shows them live).
 */
function offTerminalIntervalMs(): number {
  const v = Number(process.env.TESSELLA_PROGRESS_INTERVAL_MS);
  return Number.isFinite(v) && v > 0 ? v : 5000;
}

export function clearLine(): string {
  return '\r\x1b[2K';
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
