/** Verbs on commits: list (paged), inspect, wait, and pachctl's squash and delete. */
import { countOf, jsonOption, one, stringOf, wantsJson } from '../args.js';
import { ago, humanBytes } from '../format.js';
import { countValue, secondsValue } from '../options.js';
import { nextPageHint, out, printJson, printJsonLines, table } from '../output.js';
import { openStore, openStoreToRead } from '../session.js';
import { UsageError, type Values, type Verb } from '../verb.js';
import { dueOf, lastJob } from '../../pps/jobs.js';
import { deleteCommit, squashCommit, type RemovedCommit } from '../../pfs/reclaim.js';
import { getRepo } from '../../pfs/repos.js';
import { listCommits, provenanceOf, resolveCommit, type CommitRow } from '../../pfs/commits.js';
import { parseRepoRef } from '../../pfs/names.js';
import { getPipeline, orderedPipelines } from '../../pps/pipelines.js';
import { type Store, StoreError } from '../../store/store.js';

function commitJson(s: Store, c: CommitRow) {
  return {
    commit: { repo: c.repo, branch: c.branch, id: c.id },
    parent: c.parent,
    origin: c.origin,
    job: c.job,
    description: c.description,
    created: c.created,
    files: c.n_files,
    size_bytes: c.size_bytes,
    provenance: provenanceOf(s, c.id),
  };
}

/** Waits until the pipeline that outputs to `repo` is up to date with its inputs (no-op for an input repo). */
async function waitForPipeline(s: Store, repo: string, ref: string, deadline: number): Promise<void> {
  const r = getRepo(s, repo);
  if (!r) throw new StoreError(`repo ${JSON.stringify(repo)} not found`);
  if (!r.pipeline) return;
  for (;;) {
    const p = getPipeline(s, r.pipeline);
    const upstreamDue = p ? orderedPipelines(s).filter((x) => dueOf(s, x.row, x.spec, false)) : [];
    const last = p ? lastJob(s, p.name) : undefined;
    if (!upstreamDue.length && last?.state !== 'running') break;
    if (!s.runnerHolder()) {
      throw new StoreError(
        `pipeline(s) ${upstreamDue.map((d) => d.row.name).join(', ')} have work to do and no \`tessella run\` is running: start one`,
      );
    }
    if (Date.now() > deadline) throw new StoreError(`timed out waiting for ${repo}@${ref}`, 124);
    await new Promise((res) => setTimeout(res, 250));
  }
  const last = lastJob(s, r.pipeline);
  if (last?.state === 'failure') throw new StoreError(`the last job of pipeline ${r.pipeline} failed: ${last.reason}`);
}

/** REPO@COMMIT of squash/delete commit: the commit must be named, and no path follows it. */
function commitArg(args: string[]): { repo: string; ref: string } {
  const a = one(args, 'REPO@COMMIT');
  if (!a.includes('@')) throw new UsageError(`${a}: name the commit (REPO@COMMIT)`);
  const t = parseRepoRef(a);
  if (t.path !== undefined) throw new UsageError(`${a}: a commit, not a path (REPO@COMMIT)`);
  return t;
}

/** squash and delete commit: the runner lock is held while history changes, as for delete pipeline. */
function removeCommitVerb(
  name: 'squash commit' | 'delete commit',
  summary: string,
  remove: (s: Store, repo: string, ref: string) => RemovedCommit[],
): Verb {
  return {
    usage: `${name} REPO@COMMIT [-o json]`,
    summary,
    options: jsonOption,
    async run(args, v: Values) {
      const t = commitArg(args);
      const asJson = wantsJson(v);
      const s = openStore();
      await s.acquireRunner(`tessella ${name}`, undefined, (m) => process.stderr.write(m + '\n'));
      const removed = remove(s, t.repo, t.ref);
      if (asJson) return printJsonLines(removed.map((r) => ({ commit: { repo: r.repo, id: r.commit } })));
      for (const r of removed) out(`${r.repo}@${r.commit}`);
    },
  };
}

export const commitVerbs: Record<string, Verb> = {
  'list commit': {
    usage: 'list commit REPO[@BRANCH] [-n|--number N] [--after COMMIT] [-o json]',
    summary: 'list commits, newest first (--after: only those older than COMMIT)',
    options: { ...jsonOption, number: { type: 'string', short: 'n' }, after: { type: 'string' } },
    schema: { number: countValue },
    run(args, v) {
      const a = one(args, 'REPO[@BRANCH]');
      const t = parseRepoRef(a);
      const n = countOf(v, 'number');
      const after = stringOf(v, 'after');
      const s = openStoreToRead();
      const commits = listCommits(
        s,
        t.repo,
        a.includes('@') ? t.ref : undefined,
        n ?? -1,
        after === undefined ? undefined : { after },
      );
      if (wantsJson(v)) printJsonLines(commits.map((c) => commitJson(s, c)));
      else {
        table(
          ['REPO', 'BRANCH', 'COMMIT', 'FINISHED', 'SIZE', 'ORIGIN', 'DESCRIPTION'],
          commits.map((c) => [
            c.repo,
            c.branch,
            c.id,
            ago(c.created),
            humanBytes(c.size_bytes),
            c.origin.toUpperCase(),
            c.description,
          ]),
        );
      }
      nextPageHint(
        commits.length,
        n,
        () => `tessella list commit ${a} -n ${n} --after ${commits[commits.length - 1].id}`,
      );
    },
  },
  'inspect commit': {
    usage: 'inspect commit REPO@REF [-o json]',
    summary: 'show a commit and its provenance',
    options: jsonOption,
    run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF'));
      const s = openStoreToRead();
      const c = resolveCommit(s, t.repo, t.ref);
      if (wantsJson(v)) return printJson(commitJson(s, c));
      out(
        `Commit: ${c.repo}@${c.id}\nBranch: ${c.branch}\nParent: ${c.parent ?? '-'}\nOrigin: ${c.origin.toUpperCase()}${c.job ? ` (job ${c.job})` : ''}`,
      );
      out(`Created: ${c.created} (${ago(c.created)})\nFiles: ${c.n_files}\nSize: ${humanBytes(c.size_bytes)}`);
      if (c.description) out(`Description: ${c.description}`);
      const prov = provenanceOf(s, c.id);
      if (prov.length) out(`Provenance: ${prov.map((p) => `${p.repo}@${p.branch}=${p.commit}`).join(', ')}`);
    },
  },
  'wait commit': {
    usage: 'wait commit REPO@REF [--timeout SECONDS] [-o json]',
    summary: "wait until a pipeline's output is up to date with its inputs, then show its commit",
    options: { ...jsonOption, timeout: { type: 'string' } },
    schema: { timeout: secondsValue },
    async run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF'));
      const s = openStoreToRead();
      const deadline = typeof v.timeout === 'number' ? Date.now() + v.timeout * 1000 : Infinity;
      await waitForPipeline(s, t.repo, t.ref, deadline);
      const c = resolveCommit(s, t.repo, t.ref);
      if (wantsJson(v)) return printJson(commitJson(s, c));
      out(`${c.repo}@${c.id}`);
    },
  },
  'squash commit': removeCommitVerb(
    'squash commit',
    'remove a commit from history, keeping its changes in the commit after it; prints the commits removed',
    squashCommit,
  ),
  'delete commit': removeCommitVerb(
    'delete commit',
    'remove a commit and its changes; prints the commits removed',
    deleteCommit,
  ),
};
