/** Verbs on repos: create, delete, list, inspect. */
import * as z from 'zod';
import { jsonOption, one, wantsJson } from '../args.js';
import { ago, humanBytes } from '../format.js';
import { out, printJson, printJsonLines, table } from '../output.js';
import { openStore, openStoreToRead } from '../session.js';
import { UsageError, type Verb } from '../verb.js';
import { createRepo, deleteRepo, inspectRepo, listRepos, type RepoInfo } from '../../pfs/repos.js';

function repoJson(r: RepoInfo) {
  return {
    repo: { name: r.name },
    created: r.created,
    description: r.description,
    pipeline: r.pipeline,
    branches: r.branches,
    head: r.head,
    size_bytes: r.size_bytes,
  };
}

export const repoVerbs: Record<string, Verb> = {
  'create repo': {
    usage: 'create repo NAME [-d DESCRIPTION]',
    summary: 'create a repo (with an empty master branch)',
    options: { description: { type: 'string', short: 'd' } },
    schema: { description: z.string() },
    run(args, v) {
      createRepo(openStore(), one(args, 'a repo name'), { description: v.description as string | undefined });
    },
  },
  'delete repo': {
    usage: 'delete repo NAME',
    summary: 'delete a repo and its commits',
    run(args) {
      deleteRepo(openStore(), one(args, 'a repo name'));
    },
  },
  'list repo': {
    usage: 'list repo [-o json]',
    summary: 'list repos',
    options: jsonOption,
    run(args, v) {
      if (args.length) throw new UsageError('list repo takes no arguments');
      const repos = listRepos(openStoreToRead());
      if (wantsJson(v)) return printJsonLines(repos.map(repoJson));
      table(
        ['NAME', 'CREATED', 'SIZE (MASTER)', 'DESCRIPTION'],
        repos.map((r) => [r.name, ago(r.created), humanBytes(r.size_bytes), r.description]),
      );
    },
  },
  'inspect repo': {
    usage: 'inspect repo NAME [-o json]',
    summary: 'show a repo',
    options: jsonOption,
    run(args, v) {
      const r = inspectRepo(openStoreToRead(), one(args, 'a repo name'));
      if (wantsJson(v)) return printJson(repoJson(r));
      out(
        `Name: ${r.name}\nDescription: ${r.description}\nCreated: ${ago(r.created)}\nSize of HEAD on master: ${humanBytes(r.size_bytes)}\nBranches: ${r.branches.join(', ')}`,
      );
      if (r.pipeline) out(`Output of pipeline: ${r.pipeline}`);
    },
  },
};
