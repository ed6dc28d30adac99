/**
 * Why a datum's process failed, in its own words: the last error event of its log (a stage's JSON line
 * `{"level":"error",...,"error":"..."}`, its message without the stack), else the last lines it wrote. The
 * terminal, `inspect job` and `inspect datum` show it after the exit code, so nobody has to open the log.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** How much of the end of an attempt's log is read, and how long a reason may be. */
const TAIL_BYTES = 64 * 1024;
const MAX_REASON = 600;
const LAST_LINES = 3;

/** What a failed attempt says about itself: its reason, and the `kind` its error event gives, if any. */
export interface AttemptFailure {
  reason?: string;
  /** the error event's `kind`: 'model' or 'parameters' say that every datum of the job would fail alike */
  kind?: string;
}

/** The reason in the log from byte `from` (the attempt's start) to its end; none when it wrote nothing. */
export function failureReason(logPath: string, from: number): AttemptFailure {
  const text = tail(logPath, from);
  if (!text) return {};
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--- '));
  for (let i = lines.length - 1; i >= 0; i--) {
    const event = errorEvent(lines[i]);
    if (event) return { reason: clip(event.message), ...(event.kind ? { kind: event.kind } : {}) };
  }
  const plain = lines.filter((l) => !isJsonEvent(l));
  if (!plain.length) return {};
  return {
    reason: clip(
      plain
        .slice(-LAST_LINES)
        .map((l) => l.trim())
        .join(' | '),
    ),
  };
}

/** The size of a log now: where the next attempt's lines start. */
export function logSize(fd: number): number {
  return fstatSync(fd).size;
}

function tail(path: string, from: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - TAIL_BYTES);
    const buf = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function isJsonEvent(line: string): boolean {
  return line.startsWith('{') && line.endsWith('}');
}

/** An error event's message: its `error` (or `message`, `reason`) field, stack frames dropped; a bare error name is
 * joined to its `message`. */
function errorEvent(line: string): { message: string; kind?: string } | undefined {
  if (!isJsonEvent(line)) return undefined;
  let ev: Record<string, unknown>;
  try {
    ev = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (ev.level !== 'error') return undefined;
  const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
  // stage-main writes {error: <the error's name>, message, stack}: the name alone says nothing, so name: message
  const name = text(ev.error);
  const raw =
    name && /^\w+$/.test(name) && text(ev.message)
      ? `${name}: ${text(ev.message)}`
      : (name ?? text(ev.message) ?? text(ev.reason));
  const kind = text(ev.kind);
  if (!raw) return typeof ev.event === 'string' ? { message: ev.event, kind } : undefined;
  const message = raw
    .split('\n')
    .filter((l) => !/^\s+at /.test(l))
    .join(' ')
    .replace(/^(Error|TypeError|RangeError): /, '')
    .trim();
  return message ? { message, kind } : undefined;
}

function clip(s: string): string {
  return s.length > MAX_REASON ? s.slice(0, MAX_REASON - 3) + '...' : s;
}
