/**
 * Where the engine reads its datums' output lines: each datum's log (`<logs>/<pipeline>/<job>/<datum>.log`, which
 * the datum process writes its stdout and stderr to) is followed from where it was last read, and the stages'
 * progress events in it (shared/progress.ts: `<label> progress` and `<label> done`, JSON lines off a terminal)
 * become each running datum's tiles done of total, rate and ETA. Reading the logs, not the processes' pipes,
 * leaves how datums are started alone. After a first scan only the logs the folder's watch names are read, so a
 * poll costs the datums that wrote something, not the job's size.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export interface DatumProgress {
  datum: string;
  /** The stage's `slide` field, when it logs one. */
  slide?: string;
  label: string;
  unit: string;
  done: number;
  total?: number;
  rate: number;
  eta?: number;
  finished: boolean;
}

interface Followed {
  offset: number;
  partial: string;
  progress?: DatumProgress;
  /** The stage said done: nothing more to read (a failed attempt is followed on, for its retry). */
  done?: boolean;
}

/** Most bytes read from one log per poll: a chatty datum cannot stall the display. */
const MAX_READ = 1 << 20;

export class DatumLogFollower {
  private readonly files = new Map<string, Followed>();
  private watcher: FSWatcher | undefined;
  private started = false;
  /** Logs written since the last poll; undefined without a watch (every poll scans the folder). */
  private dirty: Set<string> | undefined;

  constructor(readonly dir: string) {}

  /** Reads what the logs gained since the last poll; returns every datum with progress seen in this job. */
  poll(): DatumProgress[] {
    if (!this.started) {
      if (!existsSync(this.dir)) return [];
      this.started = true;
      try {
        const dirty = new Set<string>();
        this.watcher = watch(this.dir, (_event, name) => void (name && dirty.add(String(name))));
        this.watcher.on('error', () => this.close());
        this.dirty = dirty;
      } catch {
        this.dirty = undefined;
      }
      this.scan(readdirSync(this.dir));
    } else if (this.dirty) {
      const names = [...this.dirty];
      this.dirty.clear();
      this.scan(names);
    } else if (existsSync(this.dir)) {
      this.scan(readdirSync(this.dir));
    }
    return [...this.files.values()].flatMap((f) => (f.progress ? [f.progress] : []));
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.dirty = undefined;
  }

  private scan(names: string[]): void {
    for (const name of names) {
      if (!name.endsWith('.log')) continue;
      let f = this.files.get(name);
      if (!f) this.files.set(name, (f = { offset: 0, partial: '' }));
      if (f.done) continue;
      try {
        this.read(name, f);
      } catch {
        /* removed meanwhile */
      }
    }
  }

  private read(name: string, f: Followed): void {
    let text: string;
    const fd = openSync(join(this.dir, name), 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= f.offset) return;
      const buf = Buffer.alloc(Math.min(size - f.offset, MAX_READ));
      const got = readSync(fd, buf, 0, buf.length, f.offset);
      f.offset += got;
      text = f.partial + buf.toString('utf8', 0, got);
    } finally {
      closeSync(fd);
    }
    const lines = text.split('\n');
    f.partial = lines.pop() ?? '';
    for (const line of lines) this.apply(name.slice(0, -'.log'.length), f, line);
  }

  private apply(datum: string, f: Followed, line: string): void {
    if (line.startsWith('--- datum ')) {
      // a (new) attempt: its progress starts over
      f.progress = undefined;
      f.done = false;
      return;
    }
    if (line.startsWith('--- attempt ') && f.progress) {
      f.progress.finished = true; // failed; the runner retries it as a new attempt
      return;
    }
    if (!line.startsWith('{')) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const event = typeof e.event === 'string' ? e.event : '';
    const m = /^(.*) (progress|done)$/.exec(event);
    if (!m) return;
    const unitKey = Object.keys(e).find((k) => k.endsWith('_per_s'));
    const unit = unitKey ? unitKey.slice(0, -'_per_s'.length) : 'items';
    const slide = typeof e.slide === 'string' ? e.slide : undefined;
    const prev = f.progress;
    if (m[2] === 'progress') {
      f.progress = {
        datum,
        slide,
        label: m[1],
        unit,
        done: num(e.done) ?? 0,
        total: num(e.total),
        rate: num(unitKey ? e[unitKey] : undefined) ?? 0,
        eta: num(e.eta_s),
        finished: false,
      };
    } else {
      // `<label> done` carries the count under the unit's name
      const done = num(e[unit]) ?? prev?.done ?? 0;
      const rate = num(unitKey ? e[unitKey] : undefined) ?? 0;
      f.progress = { datum, slide, label: m[1], unit, done, total: prev?.total ?? done, rate, eta: 0, finished: true };
      f.done = true;
    }
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
