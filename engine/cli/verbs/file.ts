/** Verbs on files: put, delete, get, list, glob. */
import { basename, resolve } from 'node:path';
import * as z from 'zod';
import { jsonOption, one, wantsJson } from '../args.js';
import { humanBytes } from '../format.js';
import { note, printJsonLines, table } from '../output.js';
import { openStore, openStoreToRead } from '../session.js';
import { UsageError, type Verb } from '../verb.js';
import { deleteFiles, expandPutItems, isLocalDir, putFiles } from '../../pfs/put-files.js';
import { getFile, globFile, listFile, type ListEntry } from '../../pfs/read-files.js';
import { normalizePath, parseRepoRef } from '../../pfs/names.js';
import { resolveCommit, type CommitRow } from '../../pfs/commits.js';
import { StoreError } from '../../store/store.js';

function fileJson(e: ListEntry, c: CommitRow) {
  return { file: { repo: c.repo, commit: c.id, path: e.path }, type: e.type, size_bytes: e.size, hash: e.hash ?? null };
}

function printFiles(entries: ListEntry[], c: CommitRow, asJson: boolean): void {
  if (asJson) {
    printJsonLines(entries.map((e) => fileJson(e, c)));
    return;
  }
  table(
    ['NAME', 'TYPE', 'SIZE'],
    entries.map((e) => [e.type === 'dir' ? e.path + '/' : e.path, e.type, humanBytes(e.size)]),
  );
}

/**
 * Where each `-f LOCAL` goes: a file to PATH (into PATH/ when it ends with '/'); a folder's contents under PATH;
 * without a PATH each to /<its name>; several -f each to PATH/<its name>.
 */
function putDestinations(locals: string[], path: string | undefined): { local: string; dest: string }[] {
  return locals.map((l) => {
    const local = l.replace(/\/+$/, '') || l;
    const name = basename(resolve(local));
    let dest: string;
    if (path === undefined) dest = '/' + name;
    else if (locals.length > 1) dest = normalizePath(path) + '/' + name;
    else if (path.endsWith('/') && !isLocalDir(local)) dest = normalizePath(path) + '/' + name;
    else dest = path;
    return { local, dest };
  });
}

export const fileVerbs: Record<string, Verb> = {
  'put file': {
    usage: 'put file REPO@BRANCH[:PATH] -f LOCAL [-f LOCAL...] [-r [-L]] [-m MESSAGE]',
    summary: 'put local files or folders (-r) into a branch, as ONE commit (-L: follow links leaving the folder)',
    options: {
      file: { type: 'string', short: 'f', multiple: true },
      recursive: { type: 'boolean', short: 'r' },
      message: { type: 'string', short: 'm' },
      'follow-links': { type: 'boolean', short: 'L' },
    },
    schema: { message: z.string() },
    async run(args, v) {
      const target = parseRepoRef(one(args, 'REPO@BRANCH[:PATH]'));
      const locals = (v.file as string[] | undefined) ?? [];
      if (!locals.length) throw new UsageError('put file needs -f LOCAL (a file, or a folder with -r)');
      const s = openStore();
      const path = target.path === undefined || target.path === '' ? undefined : target.path;
      const files = expandPutItems(putDestinations(locals, path), Boolean(v.recursive), {
        followLinks: Boolean(v['follow-links']),
      });
      if (!files.length) throw new StoreError('nothing to put: the folders are empty');
      const c = await putFiles(s, target.repo, target.ref, files, { description: v.message as string | undefined });
      note(`${files.length} file(s) -> ${c.repo}@${c.branch} commit ${c.id}`);
    },
  },
  'delete file': {
    usage: 'delete file REPO@BRANCH:PATH [REPO@BRANCH:PATH...]',
    summary: 'delete files or folders (one commit per branch)',
    options: { recursive: { type: 'boolean', short: 'r' } },
    run(args) {
      if (!args.length) throw new UsageError('expected REPO@BRANCH:PATH');
      const byBranch = new Map<string, { repo: string; branch: string; paths: string[] }>();
      for (const a of args) {
        const t = parseRepoRef(a);
        if (!t.path) throw new UsageError(`${a}: name the path to delete (REPO@BRANCH:PATH)`);
        const k = `${t.repo}@${t.ref}`;
        const e = byBranch.get(k) ?? { repo: t.repo, branch: t.ref, paths: [] };
        e.paths.push(normalizePath(t.path));
        byBranch.set(k, e);
      }
      for (const e of byBranch.values()) {
        const c = deleteFiles(openStore(), e.repo, e.branch, e.paths);
        note(`deleted ${e.paths.join(', ')} -> ${c.repo}@${c.branch} commit ${c.id}`);
      }
    },
  },
  'get file': {
    usage: 'get file REPO@REF:PATH [-o LOCAL] [-r]',
    summary: 'write a file to stdout or LOCAL; a folder (-r) to the folder LOCAL',
    options: { output: { type: 'string', short: 'o' }, recursive: { type: 'boolean', short: 'r' } },
    async run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF:PATH'));
      if (!t.path) throw new UsageError('get file needs a path: REPO@REF:PATH');
      const s = openStoreToRead();
      const c = resolveCommit(s, t.repo, t.ref);
      await getFile(s, c, t.path, v.output as string | undefined, Boolean(v.recursive));
    },
  },
  'list file': {
    usage: 'list file REPO@REF[:PATH] [-o json]',
    summary: 'list the files and folders under a path',
    options: jsonOption,
    run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF[:PATH]'));
      const s = openStoreToRead();
      const c = resolveCommit(s, t.repo, t.ref);
      printFiles(listFile(s, c, t.path || '/'), c, wantsJson(v));
    },
  },
  'glob file': {
    usage: 'glob file REPO@REF:PATTERN [-o json]',
    summary: 'list the files and folders a glob matches',
    options: jsonOption,
    run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF:PATTERN'));
      const s = openStoreToRead();
      const c = resolveCommit(s, t.repo, t.ref);
      printFiles(globFile(s, c, t.path || '/'), c, wantsJson(v));
    },
  },
};
