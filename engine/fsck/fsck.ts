/**
 * `tessella fsck`: is the store sound? (Pachyderm's `pachctl fsck`, git's `git fsck`.)
 *
 * 1. SQLite's `integrity_check` of meta.sqlite (no foreign keys are declared, so there is no foreign_key_check).
 * 2. Every reference resolves, in one read transaction: branch heads -> commits, commits -> parents and repos,
 *    provenance both ways (its rows name commits that exist; each successful job's output commit records exactly
 *    the job's input commits), jobs <-> their output commits, pipelines -> output repos, each head's counts
 *    against its live files.
 * 3. Every blob file re-hashed against its name (`fast`: its size against the recorded one), and every blob a file
 *    version or datum output names present.
 * Each problem says what it affects (repos, branches, commits, paths) and what to do. The file is opened without
 * Store.open, which would refuse (or try to upgrade) a damaged store.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.js';
import {
  type BlobUse,
  branchesWithBadHead,
  commitsWithMissingParent,
  headCountMismatches,
  jobCommitsWithoutJob,
  jobsWithoutCommit,
  pipelineFile,
  pipelineNames,
  pipelinesWithoutRepo,
  provenanceSources,
  provenanceWithMissingCommit,
  referencedBlobSizes,
  rowsOfMissingRepos,
  schemaVersionOf,
  successfulJobs,
  tableCounts,
  usesOfBlobs,
} from '../store/fsck-rows.js';
import { repairAdvice, sqliteProblems } from '../store/integrity.js';
import { SCHEMA_VERSION } from '../store/schema.js';
import { StoreError } from '../store/store.js';
import { checkBlobs } from './blob-pass.js';

export type ProblemKind =
  | 'sqlite'
  | 'blob-altered'
  | 'blob-size'
  | 'blob-missing'
  | 'blob-stray'
  | 'commit-parent'
  | 'branch-head'
  | 'repo-missing'
  | 'pipeline-repo'
  | 'provenance'
  | 'job-commit'
  | 'head-counts';

export interface Affects {
  repos: string[];
  branches: string[];
  commits: string[];
  /** `repo@branch:/path`, or `pipeline datum ID: /path` for a datum's output */
  paths: string[];
}

export interface Problem {
  kind: ProblemKind;
  message: string;
  affects: Affects;
  action: string;
}

export interface FsckResult {
  home: string;
  fast: boolean;
  problems: Problem[];
  checked: {
    sqlite: 'integrity_check' | 'unreadable';
    rows: Record<string, number>;
    blobs: number;
    blob_bytes: number;
    blobs_hashed: boolean;
    seconds: { sqlite: number; references: number; blobs: number };
  };
}

function affects(a: Partial<Affects> = {}): Affects {
  const uniq = (xs: string[] = []) => [...new Set(xs)];
  return {
    repos: uniq(a.repos),
    branches: uniq(a.branches),
    commits: uniq(a.commits),
    paths: uniq(a.paths),
  };
}

const short = (id: string) => id.slice(0, 12);
const restore = (home: string) =>
  `restore ${home} from a backup (meta.sqlite and blobs/ copied together), or rebuild it (move it aside, ` +
  `\`tessella init\`, put the inputs again and \`tessella run\`)`;

/** Checks the store at `home`; never writes to it. */
export function fsck(home: string, opts: { fast?: boolean; log: Logger }): FsckResult {
  const fast = opts.fast === true;
  const metaPath = join(home, 'meta.sqlite');
  if (!existsSync(metaPath)) throw new StoreError(`no tessella store at ${home} (it has no meta.sqlite)`);
  const problems: Problem[] = [];
  const seconds = { sqlite: 0, references: 0, blobs: 0 };
  let rows: Record<string, number> = {};
  let expected: Map<string, number> | undefined;
  let sqliteState: 'integrity_check' | 'unreadable' = 'integrity_check';
  let db: Database.Database | undefined;
  const sqliteProblem = (lines: string[]) => {
    if (problems.some((p) => p.kind === 'sqlite')) return; // one report of a damaged file: its first symptom
    problems.push({
      kind: 'sqlite',
      message: `meta.sqlite is damaged (SQLite: ${lines.slice(0, 5).join('; ')}${lines.length > 5 ? `; and ${lines.length - 5} more` : ''})`,
      affects: affects(),
      action: repairAdvice(home),
    });
  };
  let t = performance.now();
  try {
    db = new Database(metaPath, { fileMustExist: true });
    const lines = sqliteProblems(db, 'full');
    if (lines.length) sqliteProblem(lines);
  } catch (e) {
    sqliteState = 'unreadable';
    sqliteProblem([`${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`]);
  }
  seconds.sqlite = (performance.now() - t) / 1000;
  t = performance.now();
  if (db && sqliteState === 'integrity_check') {
    try {
      db.exec('BEGIN'); // one snapshot for every reference check, while a run may be writing
      try {
        const v = schemaVersionOf(db);
        if (v !== SCHEMA_VERSION)
          throw new StoreError(
            `the store at ${home} has schema ${v}; this tessella checks schema ${SCHEMA_VERSION}: open it once with ` +
              `\`tessella list repo\` (which upgrades an older store), or use the tessella that wrote it`,
          );
        rows = tableCounts(db);
        problems.push(...referenceProblems(db, home));
        expected = referencedBlobSizes(db);
      } finally {
        db.exec('COMMIT');
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      sqliteProblem([`reading the rows failed: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`]);
    }
  }
  seconds.references = (performance.now() - t) / 1000;
  t = performance.now();
  const pass = checkBlobs(join(home, 'blobs'), expected, fast, opts.log);
  seconds.blobs = (performance.now() - t) / 1000;
  const missing = expected ? [...expected.keys()].filter((h) => !pass.present.has(h)) : [];
  const bad = [...pass.findings.flatMap((f) => (f.kind === 'stray' ? [] : [f.hash])), ...missing];
  let uses = new Map<string, BlobUse>();
  if (db && expected && bad.length) {
    try {
      uses = usesOfBlobs(db, bad);
    } catch (e) {
      sqliteProblem([`finding what refers to damaged blobs failed: ${(e as Error).message}`]);
    }
  }
  const pipelines = db && expected ? pipelineNames(db) : new Set<string>();
  const specFile = (p: string) => (db ? pipelineFile(db, p) : undefined) ?? 'SPEC';
  for (const f of pass.findings) {
    if (f.kind === 'stray') {
      problems.push({
        kind: 'blob-stray',
        message: `${f.path} is not a blob (blobs are named by their sha256, in a folder named by its first two characters)`,
        affects: affects(),
        action: 'move it out of blobs/ (nothing refers to it)',
      });
      continue;
    }
    const what =
      f.kind === 'altered'
        ? `blob ${f.path} does not hold the content its name says (its bytes hash to ${short(f.actual)}…)`
        : `blob ${f.path} has ${f.size} bytes, not the ${f.expected} it was stored with`;
    problems.push(blobProblem(f.kind === 'altered' ? 'blob-altered' : 'blob-size', what, f.path, uses.get(f.hash)));
  }
  for (const h of missing) {
    const path = join(home, 'blobs', h.slice(0, 2), h);
    problems.push(blobProblem('blob-missing', `blob ${path} is missing`, path, uses.get(h)));
  }
  db?.close();
  return {
    home,
    fast,
    problems,
    checked: {
      sqlite: sqliteState,
      rows,
      blobs: pass.files,
      blob_bytes: pass.bytes,
      blobs_hashed: !fast,
      seconds: {
        sqlite: round3(seconds.sqlite),
        references: round3(seconds.references),
        blobs: round3(seconds.blobs),
      },
    },
  };

  function blobProblem(kind: ProblemKind, what: string, path: string, use: BlobUse | undefined): Problem {
    const versions = use?.versions ?? [];
    const outputs = use?.outputs ?? [];
    const a = affects({
      repos: [...versions.map((v) => v.repo), ...outputs.flatMap((o) => (o.pipeline ? [o.pipeline] : []))],
      branches: versions.map((v) => `${v.repo}@${v.branch}`),
      commits: versions.flatMap((v) => v.commits),
      paths: [
        ...versions.map((v) => `${v.repo}@${v.branch}:${v.path}`),
        ...outputs.map((o) => `${o.pipeline ?? `job ${o.job}`} datum ${o.datum}: ${o.path}`),
      ],
    });
    if (!expected) {
      return {
        kind,
        message: `${what}; what refers to it is unknown while meta.sqlite cannot be read`,
        affects: a,
        action: `repair meta.sqlite first (above), then run \`tessella fsck\` again`,
      };
    }
    if (!versions.length && !outputs.length) {
      return {
        kind,
        message: `${what}; nothing refers to it, but a later put of the same content would reuse it`,
        affects: a,
        action: `remove it (\`rm -f ${path}\`, or \`tessella gc\`)`,
      };
    }
    const user = versions.filter((v) => !pipelines.has(v.repo));
    const computed = [...new Set([...a.repos.filter((r) => pipelines.has(r))])];
    const steps: string[] = [];
    if (kind !== 'blob-missing') steps.push(`remove the damaged copy (\`rm -f ${path}\`)`);
    if (user.length) {
      const v = user[0];
      steps.push(
        `put the file again from your own copy (\`tessella put file ${v.repo}@${v.branch}:${v.path} -f LOCAL\`): the same bytes repair every commit that holds them`,
      );
    }
    for (const p of computed)
      steps.push(
        `compute ${p}'s outputs again (\`tessella update pipeline -f ${specFile(p)} --reprocess\`, then \`tessella run\`)`,
      );
    const action = steps.join('; then ');
    return {
      kind,
      message: what,
      affects: a,
      action:
        user.length && !computed.length
          ? `${action} (outputs computed from it may be wrong too: reprocess the pipelines that read it)`
          : action,
    };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Rows that name rows that are gone (step 2). */
function referenceProblems(db: Database.Database, home: string): Problem[] {
  const problems: Problem[] = [];
  for (const c of commitsWithMissingParent(db)) {
    problems.push({
      kind: 'commit-parent',
      message: `commit ${c.repo}@${c.id} names parent ${c.parent}, which has no row: the history of ${c.repo}@${c.branch} before it is lost`,
      affects: affects({ repos: [c.repo], branches: [`${c.repo}@${c.branch}`], commits: [c.id] }),
      action: `${restore(home)}; without a backup the commit and those after it still read whole, but \`list commit\` and ${short(c.id)}^ stop there`,
    });
  }
  for (const b of branchesWithBadHead(db)) {
    const why = b.head_repo
      ? `commit ${b.head}, of ${b.head_repo}@${b.head_branch}`
      : `commit ${b.head}, which has no row`;
    problems.push({
      kind: 'branch-head',
      message: `branch ${b.repo}@${b.branch} points at ${why}: reads of the branch fail or show another branch`,
      affects: affects({ repos: [b.repo], branches: [`${b.repo}@${b.branch}`], commits: [b.head] }),
      action: restore(home),
    });
  }
  for (const r of rowsOfMissingRepos(db)) {
    problems.push({
      kind: 'repo-missing',
      message: `${r.n} row(s) of ${r.tbl} name repo ${r.repo}, which has no row`,
      affects: affects({ repos: [r.repo] }),
      action: restore(home),
    });
  }
  for (const p of pipelinesWithoutRepo(db)) {
    problems.push({
      kind: 'pipeline-repo',
      message: `pipeline ${p} has no output repo`,
      affects: affects({ repos: [p] }),
      action: `${restore(home)}; or \`tessella delete pipeline ${p}\` and create it again`,
    });
  }
  for (const p of provenanceWithMissingCommit(db)) {
    const what = !p.has_output
      ? `provenance names output commit ${p.commit_id}, which has no row`
      : `output commit ${p.commit_id} was made from ${p.repo}@${p.source}, which has no row`;
    problems.push({
      kind: 'provenance',
      message: what,
      affects: affects({ repos: [p.repo], branches: [`${p.repo}@${p.branch}`], commits: [p.commit_id, p.source] }),
      action: restore(home),
    });
  }
  // both ways: each successful job's output commit records exactly the job's input commits
  const sources = provenanceSources(db);
  const missingCommit = new Set(jobsWithoutCommit(db).map((j) => j.id));
  const jobs = successfulJobs(db);
  for (const j of jobs) {
    if (missingCommit.has(j.id)) continue;
    let inputs: { repo: string; branch: string; commit: string }[];
    try {
      inputs = JSON.parse(j.inputs);
    } catch {
      inputs = [];
    }
    const want = new Set(inputs.filter((i) => i.commit).map((i) => i.commit));
    const have = sources.get(j.id) ?? new Set<string>();
    const lost = [...want].filter((c) => !have.has(c));
    const extra = [...have].filter((c) => !want.has(c));
    if (!lost.length && !extra.length) continue;
    problems.push({
      kind: 'provenance',
      message:
        `output commit ${j.pipeline}@${j.id} ` +
        [
          lost.length ? `lacks the provenance of its job's input commit(s) ${lost.join(', ')}` : '',
          extra.length ? `records input commit(s) ${extra.join(', ')} its job did not read` : '',
        ]
          .filter(Boolean)
          .join(' and '),
      affects: affects({ repos: [j.pipeline], branches: [`${j.pipeline}@master`], commits: [j.id, ...lost, ...extra] }),
      action: `${restore(home)}; until then squash and delete commit may keep or drop the wrong output commits`,
    });
  }
  for (const id of missingCommit) {
    const j = jobs.find((x) => x.id === id)!;
    problems.push({
      kind: 'job-commit',
      message: `job ${j.pipeline}@${id} succeeded but its output commit ${id} has no row`,
      affects: affects({ repos: [j.pipeline], commits: [id] }),
      action: restore(home),
    });
  }
  for (const c of jobCommitsWithoutJob(db)) {
    problems.push({
      kind: 'job-commit',
      message: `output commit ${c.repo}@${c.id} was made by job ${c.job}, which has no row`,
      affects: affects({ repos: [c.repo], branches: [`${c.repo}@${c.branch}`], commits: [c.id] }),
      action: restore(home),
    });
  }
  for (const h of headCountMismatches(db)) {
    problems.push({
      kind: 'head-counts',
      message:
        `head ${h.repo}@${h.branch} (${h.id}) records ${h.n_files} files, ${h.size_bytes} bytes; ` +
        `its file versions hold ${h.live_files} files, ${h.live_bytes} bytes (sizes shown by list repo and inspect commit are wrong)`,
      affects: affects({ repos: [h.repo], branches: [`${h.repo}@${h.branch}`], commits: [h.id] }),
      action: restore(home),
    });
  }
  return problems;
}
