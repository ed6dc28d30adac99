/**
 * One line per event: human-readable on a terminal, JSON lines otherwise (containers, CI, files).
 * Progress reports rate and ETA; on a TTY it redraws one line, elsewhere it emits throttled JSON events.
 */
export type Fields = Record<string, unknown>;

export interface LogSink {
  isTTY: boolean;
  write(line: string): void;
}

const stderrSink: LogSink = {
  get isTTY() {
    return Boolean(process.stderr.isTTY) && process.env.TESSELLA_LOG_FORMAT !== 'json';
  },
  write: (line) => void process.stderr.write(line),
};

export class Logger {
  constructor(
    readonly component: string,
    readonly base: Fields = {},
    readonly sink: LogSink = stderrSink,
  ) {}

  child(fields: Fields): Logger {
    return new Logger(this.component, { ...this.base, ...fields }, this.sink);
  }

  info(event: string, fields: Fields = {}): void {
    this.emit('info', event, fields);
  }
  warn(event: string, fields: Fields = {}): void {
    this.emit('warn', event, fields);
  }
  error(event: string, fields: Fields = {}): void {
    this.emit('error', event, fields);
  }

  emit(level: 'info' | 'warn' | 'error', event: string, fields: Fields): void {
    const all = { ...this.base, ...fields };
    if (this.sink.isTTY) {
      const kv = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const tag = level === 'info' ? '' : `${level.toUpperCase()} `;
      this.sink.write(`${clearLine()}[${this.component}] ${tag}${event}${kv ? ' ' + kv : ''}\n`);
    } else {
      this.sink.write(
        JSON.stringify({ time: new Date().toISOString(), level, component: this.component, event, ...all }) + '\n',
      );
    }
  }

  /** A progress meter over `total` items (unknown total: pass undefined). */
  progress(label: string, total: number | undefined, unit = 'items'): Progress {
    return new Progress(this, label, total, unit);
  }
}

function clearLine(): string {
  return '\r\x1b[2K';
}

export class Progress {
  private done = 0;
  private readonly started = performance.now();
  private lastDraw = 0;
  private finished = false;

  constructor(
    private readonly log: Logger,
    readonly label: string,
    readonly total: number | undefined,
    readonly unit: string,
    /** Minimum milliseconds between redraws (TTY) or JSON progress events. */
    readonly intervalMs = process.stderr.isTTY ? 200 : 5000,
  ) {}

  tick(n = 1): void {
    this.done += n;
    const now = performance.now();
    if (now - this.lastDraw >= this.intervalMs) {
      this.lastDraw = now;
      this.draw(false);
    }
  }

  get count(): number {
    return this.done;
  }

  /** Items per second since the start. */
  get rate(): number {
    const s = (performance.now() - this.started) / 1000;
    return s > 0 ? this.done / s : 0;
  }

  finish(fields: Fields = {}): { count: number; seconds: number; rate: number } {
    const seconds = (performance.now() - this.started) / 1000;
    const summary = { count: this.done, seconds: round(seconds, 3), rate: round(this.rate, 2) };
    if (!this.finished) {
      this.finished = true;
      if (this.log.sink.isTTY) this.log.sink.write(clearLine());
      this.log.info(`${this.label} done`, { [this.unit]: this.done, seconds: summary.seconds, [`${this.unit}_per_s`]: summary.rate, ...fields });
    }
    return summary;
  }

  private draw(_final: boolean): void {
    const rate = this.rate;
    const eta = this.total !== undefined && rate > 0 ? (this.total - this.done) / rate : undefined;
    if (this.log.sink.isTTY) {
      const of = this.total !== undefined ? `/${this.total}` : '';
      const pct = this.total ? ` ${Math.floor((100 * this.done) / this.total)}%` : '';
      const etaText = eta !== undefined ? ` ETA ${formatDuration(eta)}` : '';
      this.log.sink.write(`${clearLine()}[${this.log.component}] ${this.label} ${this.done}${of}${pct} ${rate.toFixed(1)} ${this.unit}/s${etaText}`);
    } else {
      this.log.info(`${this.label} progress`, {
        done: this.done,
        total: this.total,
        [`${this.unit}_per_s`]: round(rate, 2),
        eta_s: eta !== undefined ? round(eta, 1) : undefined,
      });
    }
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function createLogger(component: string, fields: Fields = {}): Logger {
  return new Logger(component, fields);
}
