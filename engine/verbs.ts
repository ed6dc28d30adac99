/**
 * pachctl's verbs on the embedded engine, plus `run`, `init` and `add slides`. Every list/inspect also prints
 * JSON with `-o json` (lists: one object per line, as pachctl streams them).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger } from '../shared/log.js';
import { GlobError } from './glob.js';
import { appDir } from './app-dir.js';
import { datumFiles, dueOf, getDatum, lastJob, listDatums, listJobs, resolveJob, type DatumRow, type JobRow } from './jobs.js';
import { deletePipeline, getPipeline, mustPipeline, orderedPipelines, putPipelines, specOf, type PipelineRow } from './pipelines.js';
import { killChildren } from './datum-process.js';
import { runJobs, type JobResult } from './runner.js';
import {
  createRepo,
  deleteFiles,
  deleteRepo,
  expandPutItems,
  getFile,
  getRepo,
  globFile,
  inspectRepo,
  isLocalDir,
  listCommits,
  listFile,
  listRepos,
  normalizePath,
  parseRepoRef,
  provenanceOf,
  putFiles,
  resolveCommit,
  type CommitRow,
  type ListEntry,
} from './pfs.js';
import { inputsOf, loadSpecFile, SpecError, type PipelineSpec } from './spec.js';
import { Store, StoreError } from './store/store.js';

class UsageError extends Error {}

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

interface Verb {
  usage: string;
  summary: string;
  options?: ParseArgsConfig['options'];
  run(args: string[], values: Values): Promise<number | void> | number | void;
}

const json = { output: { type: 'string', short: 'o' } } as const;

function wantsJson(values: Values): boolean {
  const o = values.output;
  if (o === undefined) return false;
  if (o === 'json') return true;
  throw new UsageError(`-o ${String(o)}: the only output format is json`);
}

let store: Store | undefined;
function openStore(): Store {
  store ??= Store.open();
  return store;
}

function out(line = ''): void {
  process.stdout.write(line + '\n');
}

function printJsonLines(items: unknown[]): void {
  for (const i of items) out(JSON.stringify(i));
}

function table(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`;
  return `${Math.round(h / 24)} days ago`;
}

function duration(a: string | null, b: string | null): string {
  if (!a) return '-';
  const s = ((b ? Date.parse(b) : Date.now()) - Date.parse(a)) / 1000;
  return s < 60 ? `${s.toFixed(s < 10 ? 2 : 1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

function one(args: string[], what: string): string {
  if (args.length !== 1) throw new UsageError(`expected ${what}`);
  return args[0];
}

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

function fileJson(e: ListEntry, c: CommitRow) {
  return { file: { repo: c.repo, commit: c.id, path: e.path }, type: e.type, size_bytes: e.size, hash: e.hash ?? null };
}

function printFiles(entries: ListEntry[], c: CommitRow, asJson: boolean): void {
  if (asJson) return printJsonLines(entries.map((e) => fileJson(e, c)));
  table(
    ['NAME', 'TYPE', 'SIZE'],
    entries.map((e) => [e.type === 'dir' ? e.path + '/' : e.path, e.type, humanBytes(e.size)]),
  );
}

function jobJson(j: JobRow) {
  return {
    job: { pipeline: j.pipeline, id: j.id },
    state: j.state,
    pipeline_version: j.version,
    created: j.created,
    started: j.started,
    finished: j.finished,
    reason: j.reason,
    data_total: j.n_total,
    data_processed: j.n_processed,
    data_skipped: j.n_skipped,
    data_failed: j.n_failed,
    data_recovered: j.n_recovered,
    inputs: JSON.parse(j.inputs),
    output_commit: j.state === 'success' ? { repo: j.pipeline, branch: 'master', id: j.id } : null,
  };
}

function datumJson(s: Store, d: DatumRow, withFiles = false) {
  return {
    datum: { id: d.id, job: d.job },
    state: d.state,
    hash: d.hash,
    tries: d.tries,
    reused_from_job: d.reused_from,
    started: d.started,
    finished: d.finished,
    seconds: d.seconds,
    log: d.log,
    error: d.error,
    inputs: JSON.parse(d.inputs),
    ...(withFiles ? { output_files: datumFiles(s, d.job, d.id) } : {}),
  };
}

function pipelineJson(s: Store, p: PipelineRow) {
  const spec = specOf(p);
  const last = lastJob(s, p.name);
  return {
    pipeline: { name: p.name },
    version: p.version,
    spec_file: p.file,
    salt: p.salt,
    created: p.created,
    updated: p.updated,
    inputs: inputsOf(spec.input).map((i) => ({ name: i.name, repo: i.repo, branch: i.branch ?? 'master', glob: i.glob })),
    last_job: last ? { id: last.id, state: last.state } : null,
    details: spec,
  };
}

function inputSummary(spec: PipelineSpec): string {
  const i = spec.input as Record<string, unknown>;
  const leaf = (x: Record<string, unknown>): string => {
    if (x.pfs) {
      const p = x.pfs as { repo: string; glob: string; branch?: string };
      return `${p.repo}:${p.glob}`;
    }
    for (const k of ['cross', 'union', 'join', 'group']) if (Array.isArray(x[k])) return `${k}(${(x[k] as Record<string, unknown>[]).map(leaf).join(', ')})`;
    return '?';
  };
  return leaf(i);
}

// ---------------------------------------------------------------------------------------------------------

const verbs: Record<string, Verb> = {
  'create repo': {
    usage: 'create repo NAME [-d DESCRIPTION]',
    summary: 'create a repo (with an empty master branch)',
    options: { description: { type: 'string', short: 'd' } },
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
    options: json,
    run(args, v) {
      if (args.length) throw new UsageError('list repo takes no arguments');
      const repos = listRepos(openStore());
      if (wantsJson(v)) {
        return printJsonLines(
          repos.map((r) => ({ repo: { name: r.name }, created: r.created, description: r.description, pipeline: r.pipeline, branches: r.branches, head: r.head, size_bytes: r.size_bytes })),
        );
      }
      table(
        ['NAME', 'CREATED', 'SIZE (MASTER)', 'DESCRIPTION'],
        repos.map((r) => [r.name, ago(r.created), humanBytes(r.size_bytes), r.description]),
      );
    },
  },
  'inspect repo': {
    usage: 'inspect repo NAME [-o json]',
    summary: 'show a repo',
    options: json,
    run(args, v) {
      const r = inspectRepo(openStore(), one(args, 'a repo name'));
      if (wantsJson(v)) return out(JSON.stringify({ repo: { name: r.name }, created: r.created, description: r.description, pipeline: r.pipeline, branches: r.branches, head: r.head, size_bytes: r.size_bytes }, null, 2));
      out(`Name: ${r.name}\nDescription: ${r.description}\nCreated: ${ago(r.created)}\nSize of HEAD on master: ${humanBytes(r.size_bytes)}\nBranches: ${r.branches.join(', ')}`);
      if (r.pipeline) out(`Output of pipeline: ${r.pipeline}`);
    },
  },
  'put file': {
    usage: 'put file REPO@BRANCH[:PATH] -f LOCAL [-f LOCAL...] [-r] [-m MESSAGE]',
    summary: 'put local files or folders (-r) into a branch, as ONE commit',
    options: { file: { type: 'string', short: 'f', multiple: true }, recursive: { type: 'boolean', short: 'r' }, message: { type: 'string', short: 'm' } },
    async run(args, v) {
      const target = parseRepoRef(one(args, 'REPO@BRANCH[:PATH]'));
      const locals = (v.file as string[] | undefined) ?? [];
      if (!locals.length) throw new UsageError('put file needs -f LOCAL (a file, or a folder with -r)');
      const s = openStore();
      const path = target.path === undefined || target.path === '' ? undefined : target.path;
      // a file goes to PATH (into PATH/ when it ends with '/'); a folder's contents go under PATH; without a
      // PATH each goes to /<its name>; several -f each go to PATH/<its name>
      const items = locals.map((l) => {
        const local = l.replace(/\/+$/, '') || l;
        const name = basename(resolve(local));
        let dest: string;
        if (path === undefined) dest = '/' + name;
        else if (locals.length > 1) dest = normalizePath(path) + '/' + name;
        else if (path.endsWith('/') && !isLocalDir(local)) dest = normalizePath(path) + '/' + name;
        else dest = path;
        return { local, dest };
      });
      const files = expandPutItems(items, Boolean(v.recursive));
      if (!files.length) throw new StoreError('nothing to put: the folders are empty');
      const c = await putFiles(s, target.repo, target.ref, files, { description: v.message as string | undefined });
      process.stderr.write(`${files.length} file(s) -> ${c.repo}@${c.branch} commit ${c.id}\n`);
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
        process.stderr.write(`deleted ${e.paths.join(', ')} -> ${c.repo}@${c.branch} commit ${c.id}\n`);
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
      const s = openStore();
      const c = resolveCommit(s, t.repo, t.ref);
      await getFile(s, c, t.path, v.output as string | undefined, Boolean(v.recursive));
    },
  },
  'list file': {
    usage: 'list file REPO@REF[:PATH] [-o json]',
    summary: 'list the files and folders under a path',
    options: json,
    run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF[:PATH]'));
      const s = openStore();
      const c = resolveCommit(s, t.repo, t.ref);
      printFiles(listFile(s, c, t.path || '/'), c, wantsJson(v));
    },
  },
  'glob file': {
    usage: 'glob file REPO@REF:PATTERN [-o json]',
    summary: 'list the files and folders a glob matches',
    options: json,
    run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF:PATTERN'));
      const s = openStore();
      const c = resolveCommit(s, t.repo, t.ref);
      printFiles(globFile(s, c, t.path || '/'), c, wantsJson(v));
    },
  },
  'list commit': {
    usage: 'list commit REPO[@BRANCH] [-n N] [-o json]',
    summary: 'list commits, newest first',
    options: { ...json, number: { type: 'string', short: 'n' } },
    run(args, v) {
      const a = one(args, 'REPO[@BRANCH]');
      const t = parseRepoRef(a);
      const s = openStore();
      const n = v.number === undefined ? -1 : Number(v.number);
      const commits = listCommits(s, t.repo, a.includes('@') ? t.ref : undefined, n);
      if (wantsJson(v)) return printJsonLines(commits.map((c) => commitJson(s, c)));
      table(
        ['REPO', 'BRANCH', 'COMMIT', 'FINISHED', 'SIZE', 'ORIGIN', 'DESCRIPTION'],
        commits.map((c) => [c.repo, c.branch, c.id, ago(c.created), humanBytes(c.size_bytes), c.origin.toUpperCase(), c.description]),
      );
    },
  },
  'inspect commit': {
    usage: 'inspect commit REPO@REF [-o json]',
    summary: 'show a commit and its provenance',
    options: json,
    run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF'));
      const s = openStore();
      const c = resolveCommit(s, t.repo, t.ref);
      if (wantsJson(v)) return out(JSON.stringify(commitJson(s, c), null, 2));
      out(`Commit: ${c.repo}@${c.id}\nBranch: ${c.branch}\nParent: ${c.parent ?? '-'}\nOrigin: ${c.origin.toUpperCase()}${c.job ? ` (job ${c.job})` : ''}`);
      out(`Created: ${c.created} (${ago(c.created)})\nFiles: ${c.n_files}\nSize: ${humanBytes(c.size_bytes)}`);
      if (c.description) out(`Description: ${c.description}`);
      const prov = provenanceOf(s, c.id);
      if (prov.length) out(`Provenance: ${prov.map((p) => `${p.repo}@${p.branch}=${p.commit}`).join(', ')}`);
    },
  },
  'wait commit': {
    usage: 'wait commit REPO@REF [--timeout SECONDS] [-o json]',
    summary: "wait until a pipeline's output is up to date with its inputs, then show its commit",
    options: { ...json, timeout: { type: 'string' } },
    async run(args, v) {
      const t = parseRepoRef(one(args, 'REPO@REF'));
      const s = openStore();
      const deadline = v.timeout === undefined ? Infinity : Date.now() + Number(v.timeout) * 1000;
      const repo = getRepo(s, t.repo);
      if (!repo) throw new StoreError(`repo ${JSON.stringify(t.repo)} not found`);
      if (repo.pipeline) {
        for (;;) {
          const p = getPipeline(s, repo.pipeline);
          const upstreamDue = p ? orderedPipelines(s).filter((x) => dueOf(s, x.row, x.spec, false)) : [];
          const last = p ? lastJob(s, p.name) : undefined;
          if (!upstreamDue.length && last?.state !== 'running') break;
          if (!s.runnerHolder()) {
            throw new StoreError(`pipeline(s) ${upstreamDue.map((d) => d.row.name).join(', ')} have work to do and no \`tessella run\` is running: start one`);
          }
          if (Date.now() > deadline) throw new StoreError(`timed out waiting for ${t.repo}@${t.ref}`, 124);
          await new Promise((r) => setTimeout(r, 250));
        }
        const last = lastJob(s, repo.pipeline);
        if (last?.state === 'failure') throw new StoreError(`the last job of pipeline ${repo.pipeline} failed: ${last.reason}`);
      }
      const c = resolveCommit(s, t.repo, t.ref);
      if (wantsJson(v)) return out(JSON.stringify(commitJson(s, c), null, 2));
      out(`${c.repo}@${c.id}`);
    },
  },
  'create pipeline': {
    usage: 'create pipeline -f SPEC [-f SPEC...]',
    summary: 'create pipelines from spec files (YAML or JSON, one or several documents)',
    options: { file: { type: 'string', short: 'f', multiple: true } },
    run(args, v) {
      return putSpecFiles(args, v, false, false);
    },
  },
  'update pipeline': {
    usage: 'update pipeline -f SPEC [--reprocess]',
    summary: 'update pipelines; keeps the salt (no reprocessing) unless --reprocess',
    options: { file: { type: 'string', short: 'f', multiple: true }, reprocess: { type: 'boolean' } },
    run(args, v) {
      return putSpecFiles(args, v, true, Boolean(v.reprocess));
    },
  },
  'delete pipeline': {
    usage: 'delete pipeline NAME [--keep-repo]',
    summary: 'delete a pipeline, its jobs and (unless --keep-repo) its output repo',
    options: { 'keep-repo': { type: 'boolean' } },
    async run(args, v) {
      const s = openStore();
      await s.acquireRunner('tessella delete pipeline', undefined, (m) => process.stderr.write(m + '\n'));
      deletePipeline(s, one(args, 'a pipeline name'), { keepRepo: Boolean(v['keep-repo']) });
    },
  },
  'list pipeline': {
    usage: 'list pipeline [-o json]',
    summary: 'list pipelines',
    options: json,
    run(args, v) {
      const s = openStore();
      const rows = orderedPipelines(s).map((x) => x.row);
      if (wantsJson(v)) return printJsonLines(rows.map((p) => pipelineJson(s, p)));
      table(
        ['NAME', 'VERSION', 'INPUT', 'CREATED', 'LAST JOB'],
        rows.map((p) => {
          const last = lastJob(s, p.name);
          return [p.name, p.version, inputSummary(specOf(p)), ago(p.created), last ? last.state : '-'];
        }),
      );
    },
  },
  'inspect pipeline': {
    usage: 'inspect pipeline NAME [-o json]',
    summary: 'show a pipeline and its spec',
    options: json,
    run(args, v) {
      const s = openStore();
      const p = mustPipeline(s, one(args, 'a pipeline name'));
      const j = pipelineJson(s, p);
      if (wantsJson(v)) return out(JSON.stringify(j, null, 2));
      out(`Name: ${p.name}\nVersion: ${p.version}\nSpec file: ${p.file ?? '-'}\nInput: ${inputSummary(specOf(p))}\nLast job: ${j.last_job ? `${j.last_job.id} ${j.last_job.state}` : '-'}`);
      out(JSON.stringify(j.details, null, 2));
    },
  },
  'list job': {
    usage: 'list job [-p PIPELINE] [-o json]',
    summary: 'list jobs, newest first',
    options: { ...json, pipeline: { type: 'string', short: 'p' } },
    run(args, v) {
      if (args.length) throw new UsageError('list job takes no arguments (use -p PIPELINE)');
      const s = openStore();
      const jobs = listJobs(s, v.pipeline as string | undefined);
      if (wantsJson(v)) return printJsonLines(jobs.map(jobJson));
      table(
        ['PIPELINE', 'ID', 'STARTED', 'DURATION', 'PROGRESS', 'DL/SKIP/FAIL', 'STATE'],
        jobs.map((j) => [
          j.pipeline,
          j.id,
          ago(j.started),
          duration(j.started, j.finished),
          `${j.n_processed + j.n_skipped}/${j.n_total}`,
          `${j.n_processed}/${j.n_skipped}/${j.n_failed}`,
          j.state.toUpperCase(),
        ]),
      );
    },
  },
  'inspect job': {
    usage: 'inspect job PIPELINE@JOB [-o json]',
    summary: 'show a job: inputs, counts, output commit, why it failed',
    options: json,
    run(args, v) {
      const s = openStore();
      const j = resolveJob(s, one(args, 'PIPELINE@JOB'));
      if (wantsJson(v)) return out(JSON.stringify(jobJson(j), null, 2));
      out(`ID: ${j.id}\nPipeline: ${j.pipeline} (version ${j.version})\nState: ${j.state.toUpperCase()}\nStarted: ${j.started ?? '-'}\nDuration: ${duration(j.started, j.finished)}`);
      out(`Datums: ${j.n_total} total, ${j.n_processed} processed, ${j.n_skipped} skipped, ${j.n_failed} failed, ${j.n_recovered} resumed`);
      out(`Inputs: ${(JSON.parse(j.inputs) as { repo: string; branch: string; commit: string }[]).map((i) => `${i.repo}@${i.branch}=${i.commit || '(none)'}`).join(', ')}`);
      if (j.state === 'success') out(`Output commit: ${j.pipeline}@${j.id}`);
      if (j.reason) out(`Reason: ${j.reason}`);
    },
  },
  'list datum': {
    usage: 'list datum PIPELINE@JOB [-o json]',
    summary: "list a job's datums",
    options: json,
    run(args, v) {
      const s = openStore();
      const j = resolveJob(s, one(args, 'PIPELINE@JOB'));
      const ds = listDatums(s, j.id);
      if (wantsJson(v)) return printJsonLines(ds.map((d) => datumJson(s, d)));
      table(
        ['ID', 'FILES', 'STATUS', 'TIME'],
        ds.map((d) => [
          d.id,
          (JSON.parse(d.inputs) as { repo: string; path: string }[]).map((i) => `${i.repo}@${i.path}`).join(', '),
          d.state.toUpperCase(),
          d.seconds != null ? `${d.seconds.toFixed(2)}s` : '-',
        ]),
      );
    },
  },
  'inspect datum': {
    usage: 'inspect datum PIPELINE@JOB DATUM [-o json]',
    summary: 'show a datum: inputs, state, tries, outputs, log',
    options: json,
    run(args, v) {
      if (args.length !== 2) throw new UsageError('expected PIPELINE@JOB DATUM');
      const s = openStore();
      const j = resolveJob(s, args[0]);
      const d = getDatum(s, j.id, args[1]);
      const info = datumJson(s, d, true);
      if (wantsJson(v)) return out(JSON.stringify(info, null, 2));
      out(`ID: ${d.id}\nJob: ${j.pipeline}@${j.id}\nState: ${d.state.toUpperCase()}\nTries: ${d.tries}`);
      if (d.reused_from) out(`Reused from job: ${d.reused_from}`);
      out(`Inputs:`);
      for (const i of info.inputs as { name: string; repo: string; commit: string; path: string }[]) out(`  ${i.name}: ${i.repo}@${i.commit}:${i.path}`);
      out(`Outputs:`);
      for (const f of info.output_files ?? []) out(`  ${f.path} (${humanBytes(f.size)})`);
      if (d.error) out(`Error: ${d.error}`);
      if (d.log) out(`Log: ${d.log}`);
    },
  },
  logs: {
    usage: 'logs -p PIPELINE [--job [PIPELINE@]JOB] [--datum DATUM]',
    summary: "print datums' stdout/stderr (default: the pipeline's last job)",
    options: { pipeline: { type: 'string', short: 'p' }, job: { type: 'string', short: 'j' }, datum: { type: 'string' } },
    async run(args, v) {
      if (args.length) throw new UsageError('logs takes options only: -p PIPELINE [--job JOB] [--datum DATUM]');
      const s = openStore();
      let job: JobRow | undefined;
      if (v.job) job = resolveJob(s, v.pipeline && !String(v.job).includes('@') ? `${v.pipeline}@${v.job}` : String(v.job));
      else if (v.pipeline) job = lastJob(s, mustPipeline(s, String(v.pipeline)).name);
      else throw new UsageError('logs needs -p PIPELINE or --job PIPELINE@JOB');
      if (!job) throw new StoreError(`pipeline ${v.pipeline} has no jobs yet`);
      const ds = v.datum ? [getDatum(s, job.id, String(v.datum))] : listDatums(s, job.id).filter((d) => d.state !== 'skipped');
      const { readFileSync } = await import('node:fs');
      for (const d of ds) {
        let logFile = d.log;
        if (!logFile && d.reused_from) logFile = getDatum(s, d.reused_from, d.id).log;
        if (!logFile || !existsSync(logFile)) continue;
        process.stdout.write(readFileSync(logFile));
      }
    },
  },
  run: {
    usage: 'run',
    summary: 'run every due job in DAG order until nothing is due',
    options: {},
    async run(args) {
      if (args.length) throw new UsageError('run takes no arguments');
      const s = openStore();
      const log = createLogger('tessella');
      const stop = (sig: string) => {
        killChildren();
        process.stderr.write(`\ntessella: ${sig}: stopped; the job resumes at the next \`tessella run\`\n`);
        s.close();
        process.exit(130);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      const results = await runJobs(s, { log });
      return report(results, log);
    },
  },
  init: {
    usage: 'init [--pipelines DIR]',
    summary: 'create the slides, manifest and models repos and every pipeline in pipelines/ (idempotent)',
    options: { pipelines: { type: 'string' } },
    run(args, v) {
      if (args.length) throw new UsageError('init takes no arguments');
      const s = openStore();
      for (const r of ['slides', 'manifest', 'models']) if (createRepo(s, r, { ifMissing: true })) out(`created repo ${r}`);
      const dir = resolve((v.pipelines as string | undefined) ?? join(appDir(), 'pipelines'));
      const files = existsSync(dir)
        ? readdirSync(dir)
            .filter((f) => /\.(ya?ml|json)$/.test(f))
            .sort()
            .map((f) => join(dir, f))
        : [];
      const specs: PipelineSpec[] = [];
      const fileOf = new Map<string, string>();
      for (const f of files) {
        for (const spec of loadSpecFile(f)) {
          specs.push(spec);
          fileOf.set(spec.pipeline.name, f);
        }
      }
      if (!specs.length) {
        out(`no pipeline specs in ${dir}`);
        return;
      }
      const r = putPipelines(s, specs, { update: true, files: fileOf });
      for (const n of r.created) out(`created pipeline ${n}`);
      for (const n of r.updated) out(`updated pipeline ${n} (salt kept: datums already done are not reprocessed)`);
      if (r.unchanged.length) out(`unchanged: ${r.unchanged.join(', ')}`);
    },
  },
  'add slides': {
    usage: 'add slides DIR [--repo slides] [--branch master]',
    summary: 'commit every slide file or folder of DIR as /<slide_id>/<file>, in ONE commit',
    options: { repo: { type: 'string' }, branch: { type: 'string' } },
    async run(args, v) {
      const dir = one(args, 'a folder of slides');
      const s = openStore();
      const repo = (v.repo as string | undefined) ?? 'slides';
      if (!getRepo(s, repo)) createRepo(s, repo, { ifMissing: true });
      const { files, slides } = slideItems(dir);
      const c = await putFiles(s, repo, (v.branch as string | undefined) ?? 'master', files, { description: `tessella add slides ${dir}` });
      process.stderr.write(`${slides} slide(s), ${files.length} file(s) -> ${repo}@${c.branch} commit ${c.id}\n`);
    },
  },
};

const DOUBLE_EXT = /\.(ome\.tiff?|nii\.gz|tar\.gz)$/i;

/** slide_id of a file: its name without extension (`a.ome.tiff` -> `a`). */
export function slideIdOf(fileName: string): string {
  const m = DOUBLE_EXT.exec(fileName);
  if (m) return fileName.slice(0, m.index);
  const ext = extname(fileName);
  return ext && ext !== fileName ? fileName.slice(0, -ext.length) : fileName;
}

/**
 * The files of a folder of slides as /<slide_id>/<file>: a file is one slide; a folder is one slide (all its
 * files under /<folder>/); a folder beside a file of the same stem (MIRAX: a.mrxs + a/) goes with that file,
 * as /<id>/<folder>/..., where OpenSlide expects it.
 */
export function slideItems(dir: string): { files: { local: string; path: string }[]; slides: number } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new StoreError(`${dir} is not a folder`);
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
  const fileStems = new Map<string, string>();
  for (const e of entries) {
    if (e.isDirectory()) continue;
    const id = slideIdOf(e.name);
    const before = fileStems.get(id);
    if (before) throw new StoreError(`${join(dir, before)} and ${join(dir, e.name)} would both be slide ${id}`);
    fileStems.set(id, e.name);
  }
  const items: { local: string; dest: string }[] = [];
  const ids = new Set(fileStems.keys());
  for (const e of entries) {
    const local = join(dir, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && statSync(local).isDirectory());
    if (isDir) {
      if (fileStems.has(e.name)) items.push({ local, dest: `/${e.name}/${e.name}` });
      else {
        ids.add(e.name);
        items.push({ local, dest: `/${e.name}` });
      }
    } else items.push({ local, dest: `/${slideIdOf(e.name)}/${e.name}` });
  }
  for (const id of ids) normalizePath('/' + id);
  return { files: expandPutItems(items, true), slides: ids.size };
}

function putSpecFiles(args: string[], v: Values, update: boolean, reprocess: boolean): void {
  if (args.length) throw new UsageError('pass spec files with -f SPEC');
  const files = (v.file as string[] | undefined) ?? [];
  if (!files.length) throw new UsageError('expected -f SPEC');
  const specs: PipelineSpec[] = [];
  const fileOf = new Map<string, string>();
  for (const f of files) {
    for (const spec of loadSpecFile(f)) {
      specs.push(spec);
      fileOf.set(spec.pipeline.name, resolve(f));
    }
  }
  const r = putPipelines(openStore(), specs, { update, reprocess, files: fileOf });
  for (const n of r.created) process.stderr.write(`created pipeline ${n}\n`);
  for (const n of r.updated) process.stderr.write(`updated pipeline ${n}${reprocess ? ' (new salt: every datum reprocesses)' : ''}\n`);
  for (const n of r.unchanged) process.stderr.write(`pipeline ${n} unchanged\n`);
}

function report(results: JobResult[], log: ReturnType<typeof createLogger>): number {
  if (!results.length) {
    log.info('nothing to do: every pipeline is up to date with its inputs');
    return 0;
  }
  const failed = results.filter((r) => r.state !== 'success');
  for (const r of failed) {
    process.stderr.write(`tessella: pipeline ${r.pipeline} job ${r.job} failed: ${r.reason ?? r.state}\n`);
    for (const f of r.failures.slice(0, 10)) process.stderr.write(`  datum ${f.datum}: ${f.error}\n    log: ${f.log}\n`);
    if (r.failures.length > 10) process.stderr.write(`  ... and ${r.failures.length - 10} more (tessella list datum ${r.pipeline}@${r.job})\n`);
  }
  return failed.length ? 1 : 0;
}

function help(extra: string[]): string {
  const lines = ['tessella: Pachyderm-style pipelines on one machine (store: $TESSELLA_HOME, default ./.tessella)', '', 'Usage: tessella VERB ...', ''];
  for (const v of Object.values(verbs)) lines.push(`  ${v.usage.padEnd(62)} ${v.summary}`);
  for (const e of extra) lines.push(`  ${e}`);
  return lines.join('\n') + '\n';
}

export async function runCli(argv: string[], extra: string[] = []): Promise<number> {
  if (!argv.length || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(help(extra));
    return argv.length ? 0 : 2;
  }
  let name = argv[0];
  let rest = argv.slice(1);
  if (!verbs[name] && argv.length > 1 && verbs[`${argv[0]} ${argv[1]}`]) {
    name = `${argv[0]} ${argv[1]}`;
    rest = argv.slice(2);
  }
  const verb = verbs[name];
  if (!verb) {
    process.stderr.write(`tessella: unknown verb ${JSON.stringify(argv.slice(0, 2).join(' '))}\n\n${help(extra)}`);
    return 2;
  }
  try {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`Usage: tessella ${verb.usage}\n  ${verb.summary}\n`);
      return 0;
    }
    const { values, positionals } = parseArgs({ args: rest, options: verb.options ?? {}, allowPositionals: true, strict: true });
    const code = await verb.run(positionals, values as Values);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
      process.stderr.write(`tessella ${name}: ${(e as Error).message}\nUsage: tessella ${verb.usage}\n`);
      return 2;
    }
    if (e instanceof StoreError) {
      process.stderr.write(`tessella ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof SpecError || e instanceof GlobError) {
      process.stderr.write(`tessella ${name}: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`tessella ${name}: ${process.env.TESSELLA_DEBUG ? (e as Error).stack : (e as Error).message}\n`);
    return 1;
  } finally {
    store?.close();
    store = undefined;
  }
}
