/**
 * Files a datum left in the store's own folders (`$PFS_ROOT/out/../../x`), looked for after each datum where it
 * could write there (TESSELLA_ISOLATION=copy; with a mount namespace such writes fail). The store's entries are
 * named by the engine: scratch and temp entries `<pid>-<start>-<hex>`, blob folders two hex digits, log folders
 * per pipeline. An entry that appeared during the datum and is none of these is a stray.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../store/store.js';

/** The entries of the store's folders, as paths relative to its home. */
export type StoreEntries = Set<string>;

const TOP = new Set([
  'blobs',
  'tmp',
  'scratch',
  'logs',
  'meta.sqlite',
  'meta.sqlite-wal',
  'meta.sqlite-shm',
  'meta.sqlite-journal',
]);
const OWNED = /^\d+-\d+-[0-9a-f]+$/;

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The store's entries now; with `before`, the strays among those that appeared since. */
export function storeStrays(store: Store): StoreEntries;
export function storeStrays(store: Store, before: StoreEntries): string[];
export function storeStrays(store: Store, before?: StoreEntries): StoreEntries | string[] {
  const now = new Set<string>();
  for (const name of entries(store.home)) now.add(name);
  for (const sub of ['scratch', 'tmp', 'blobs', 'logs'])
    for (const name of entries(join(store.home, sub))) now.add(`${sub}/${name}`);
  if (!before) return now;
  return [...now].filter((p) => !before.has(p) && !expected(p)).sort();
}

function expected(p: string): boolean {
  const [top, name] = p.split('/');
  if (name === undefined) return TOP.has(top);
  if (top === 'scratch' || top === 'tmp') return OWNED.test(name);
  if (top === 'blobs') return /^[0-9a-f]{2}$/.test(name);
  return top === 'logs';
}

export function strayError(store: Store, strays: string[]): string {
  const shown = strays.slice(0, 5).map((p) => join(store.home, p));
  const more = strays.length > 5 ? ` and ${strays.length - 5} more` : '';
  return (
    `the datum wrote outside $PFS_ROOT/out, into the store's folders: ${shown.join(', ')}${more}: ` +
    `write outputs under $PFS_ROOT/out only, and remove what it left there`
  );
}
