/**
 * Headless Chromium driven over its DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on fd 3,
 * replies and events on fd 4, NUL-terminated JSON), so a test opens a page as a person would, reads the console
 * and takes a screenshot with no npm dependency. Debian's `chromium` package; `findChromium` says why not when absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The Chromium binary to use (TESSELLA_CHROMIUM overrides), or undefined. */
export function findChromium(): string | undefined {
  const forced = process.env.TESSELLA_CHROMIUM;
  if (forced) return existsSync(forced) ? forced : undefined;
  for (const name of CANDIDATES) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}

export const NO_CHROMIUM =
  'no Chromium found (Debian package chromium): run TESSELLA_BROWSER_TESTS=1 ./scripts/setup, or set TESSELLA_CHROMIUM';

/** A console message, an uncaught exception or a browser log entry (failed loads, ...) seen while the page ran. */
export interface PageMessage {
  kind: 'console' | 'exception' | 'log';
  level: string;
  text: string;
}

interface Reply {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
}

export class Chromium {
  readonly messages: PageMessage[] = [];
  private next = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  private readonly waiters: { method: string; resolve: () => void }[] = [];
  private session = '';
  private buffer = '';
  private stderr = '';

  private constructor(
    private readonly proc: ChildProcess,
    private readonly profile: string,
  ) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const text = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 1);
        this.onMessage(JSON.parse(text) as Reply);
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-4000)));
    proc.on('exit', (code) => {
      for (const p of this.pending.values())
        p.reject(new Error(`chromium exited (${code}) before replying:\n${this.stderr}`));
      this.pending.clear();
    });
  }

  /** Start headless Chromium with one page of `width` x `height` CSS pixels. */
  static async launch(binary: string, width = 1200, height = 900): Promise<Chromium> {
    const profile = mkdtempSync(join(tmpdir(), 'tessella-chromium-'));
    const args = [
      '--headless',
      '--remote-debugging-pipe',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-gpu',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-sync',
      '--mute-audio',
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      // Root in a container has no user namespace for the sandbox.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    ];
    const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const c = new Chromium(proc, profile);
    const { targetId } = await c.send('Target.createTarget', { url: 'about:blank' }, false);
    const { sessionId } = await c.send('Target.attachToTarget', { targetId, flatten: true }, false);
    c.session = sessionId as string;
    for (const domain of ['Page', 'Runtime', 'Log']) await c.send(`${domain}.enable`);
    await c.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    return c;
  }

  private onMessage(m: Reply): void {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(m.error.message));
      else p?.resolve(m.result ?? {});
      return;
    }
    const params = m.params ?? {};
    if (m.method === 'Runtime.consoleAPICalled') {
      const args = (params.args as { value?: unknown; description?: string }[]) ?? [];
      this.messages.push({
        kind: 'console',
        level: String(params.type),
        text: args.map((a) => String(a.value ?? a.description ?? '')).join(' '),
      });
    } else if (m.method === 'Runtime.exceptionThrown') {
      const d = params.exceptionDetails as { text: string; exception?: { description?: string } };
      this.messages.push({ kind: 'exception', level: 'error', text: d.exception?.description ?? d.text });
    } else if (m.method === 'Log.entryAdded') {
      const e = params.entry as { level: string; text: string; url?: string };
      this.messages.push({ kind: 'log', level: e.level, text: `${e.text}${e.url ? ` (${e.url})` : ''}` });
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].method === m.method) this.waiters.splice(i, 1)[0].resolve();
    }
  }

  send(method: string, params: Record<string, unknown> = {}, inPage = true): Promise<Record<string, unknown>> {
    const id = this.next++;
    const msg = JSON.stringify({ id, method, params, ...(inPage ? { sessionId: this.session } : {}) });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.proc.stdio[3] as Writable).write(msg + '\0');
    });
  }

  /** Open a URL and wait for its load event. */
  async open(url: string, timeoutMs = 30_000): Promise<void> {
    const loaded = new Promise<void>((resolve) => this.waiters.push({ method: 'Page.loadEventFired', resolve }));
    await this.send('Page.navigate', { url });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      loaded,
      new Promise(
        (_, reject) =>
          (timer = setTimeout(() => reject(new Error(`${url}: no load event in ${timeoutMs} ms`)), timeoutMs)),
      ),
    ]);
    clearTimeout(timer);
  }

  /** Evaluate an expression in the page (promises awaited) and return its value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    const ex = r.exceptionDetails as { text: string; exception?: { description?: string } } | undefined;
    if (ex) throw new Error(`in the page: ${ex.exception?.description ?? ex.text}`);
    return (r.result as { value: T }).value;
  }

  /** A PNG of the viewport. */
  async screenshot(): Promise<Buffer> {
    const r = await this.send('Page.captureScreenshot', { format: 'png' });
    return Buffer.from(r.data as string, 'base64');
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) =>
      this.proc.exitCode !== null ? resolve() : this.proc.once('exit', () => resolve()),
    );
    this.send('Browser.close', {}, false).catch(() => {});
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(this.profile, { recursive: true, force: true });
  }
}
