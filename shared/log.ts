/**
 * One line per event: human-readable on a terminal, JSON lines otherwise (containers, CI, files).
 * The progress meter (rate and ETA) is shared/progress.ts; `log.progress(...)` makes one.
 */
import { clearLine, Progress } from './progress.js';

export { formatDuration, Progress } from './progress.js';

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

export function createLogger(component: string, fields: Fields = {}): Logger {
  return new Logger(component, fields);
}
