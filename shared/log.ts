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
  /**
   * On a terminal, a live block of lines kept below the log (progress): redrawn in place, erased before each
   * log line and drawn again after it; [] erases it. Each `key` (one per progress meter) has its own block,
   * drawn one below the other in the order they first appeared, so jobs running at once share the footer.
   * Sinks without it get progress as one redrawn line.
   */
  footer?(lines: string[], key?: string): void;
}

/** Writes to stderr; on a terminal keeps the live footer below the log lines. */
class StderrSink implements LogSink {
  private footerLines: string[] = [];
  private readonly blocks = new Map<string, string[]>();

  get isTTY(): boolean {
    return Boolean(process.stderr.isTTY) && process.env.TESSELLA_LOG_FORMAT !== 'json';
  }

  write(line: string): void {
    if (!this.footerLines.length) return void process.stderr.write(line);
    process.stderr.write(
      eraseBlock(this.footerLines.length) + line + (line.endsWith('\n') ? this.footerLines.join('\n') : ''),
    );
    if (!line.endsWith('\n')) {
      // a partial line took the footer's place
      this.footerLines = [];
      this.blocks.clear();
    }
  }

  footer(lines: string[], key = ''): void {
    // Longer lines would wrap, and the block could not be erased by its line count.
    const width = Math.max(20, (process.stderr.columns || 120) - 1);
    if (lines.length)
      this.blocks.set(
        key,
        lines.map((l) => (l.length > width ? l.slice(0, width - 1) + '…' : l)),
      );
    else this.blocks.delete(key);
    const all = [...this.blocks.values()].flat();
    process.stderr.write((this.footerLines.length ? eraseBlock(this.footerLines.length) : '') + all.join('\n'));
    this.footerLines = all;
  }
}

/** Erase `n` lines with the cursor at the end of the last one; the cursor ends at the start of the first. */
function eraseBlock(n: number): string {
  return clearLine() + '\x1b[1A\x1b[2K'.repeat(n - 1);
}

const stderrSink: LogSink = new StderrSink();

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
