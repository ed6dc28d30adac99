/**
 * Names in PFS: repo and branch names, repo paths, `repo@ref:/path` references and new ids, checked with a message
 * that says what to write instead.
 */
import { randomUUID } from 'node:crypto';
import { StoreError } from '../store/store.js';

export const REPO_NAME = /^[a-zA-Z0-9_-]+$/;

export function checkRepoName(name: string, what = 'repo'): void {
  if (!REPO_NAME.test(name)) {
    throw new StoreError(`invalid ${what} name ${JSON.stringify(name)}: use letters, digits, '_' and '-' only`);
  }
}

export function newId(): string {
  return randomUUID().replace(/-/g, '');
}

/** A repo path: rooted, no empty, '.' or '..' segments. '/' is the root. */
export function normalizePath(p: string): string {
  if (p.includes('\0')) throw new StoreError(`path ${JSON.stringify(p)} holds a NUL byte`);
  const segs = p.split('/').filter((s) => s !== '');
  for (const s of segs) {
    if (s === '..' || s === '.') {
      throw new StoreError(
        `path ${JSON.stringify(p)} has a ${JSON.stringify(s)} segment: paths must stay inside the repo`,
      );
    }
  }
  return '/' + segs.join('/');
}

/** `repo`, `repo@ref`, `repo@ref:/path` (path kept raw; undefined when absent). */
export function parseRepoRef(text: string): { repo: string; ref: string; path?: string } {
  const colon = text.indexOf(':');
  const head = colon >= 0 ? text.slice(0, colon) : text;
  const path = colon >= 0 ? text.slice(colon + 1) : undefined;
  const at = head.indexOf('@');
  const repo = at >= 0 ? head.slice(0, at) : head;
  const ref = at >= 0 ? head.slice(at + 1) : 'master';
  if (!repo) throw new StoreError(`${JSON.stringify(text)}: expected REPO[@BRANCH|@COMMIT][:PATH]`);
  checkRepoName(repo);
  if (!ref) throw new StoreError(`${JSON.stringify(text)}: empty branch or commit after '@'`);
  return { repo, ref, path };
}
