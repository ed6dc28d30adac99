/**
 * report.html as a browser reads it, for tests without a browser: each shard's card script (`qc/<set>-NNNNN.js` beside
 * the page, which inserts its cards where its tag is) replaced by the cards it inserts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const TAG = /<script src="([^"]+)" onerror="tessellaMissing\(this\)"><\/script>/g;
const CALL = /^document\.currentScript\.insertAdjacentHTML\('beforebegin', ("(?:[^"\\]|\\.)*")\);\n$/s;

/** The cards a shard's script inserts (its one call's string argument). */
export function scriptCards(script: string): string {
  const m = CALL.exec(script);
  if (!m) throw new Error(`not a card script: ${script.slice(0, 80)}`);
  return JSON.parse(m[1]) as string;
}

/** The page with every card script's cards in place of its tag, and the scripts' paths as the page names them. */
export function assembledPage(datasetDir: string): { html: string; page: string; scripts: string[] } {
  const page = readFileSync(join(datasetDir, 'report.html'), 'utf8');
  const scripts: string[] = [];
  const html = page.replace(TAG, (_t, src: string) => {
    scripts.push(decodeURI(src));
    return scriptCards(readFileSync(join(datasetDir, decodeURI(src)), 'utf8'));
  });
  return { html, page, scripts };
}

/** The cards' statuses in the order the page shows them (by manifest line, as its script orders them). */
export function cardStatuses(html: string): string[] {
  return [...html.matchAll(/<article class="card [a-z-]+"[^>]*data-line="(\d+)"[^>]*data-status="([^"]+)"/g)]
    .map((m) => ({ line: Number(m[1]), status: m[2] }))
    .sort((a, b) => a.line - b.line)
    .map((c) => c.status);
}
