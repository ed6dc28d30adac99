/** `tessella fsck`: the store checks itself (engine/fsck/fsck.ts); exit 1 when it finds a problem. */
import { createLogger } from '../../../shared/log.js';
import { fsck, type FsckResult, type Problem } from '../../fsck/fsck.js';
import { defaultHome } from '../../store/store.js';
import { jsonOption, wantsJson } from '../args.js';
import { humanBytes, plural } from '../format.js';
import { out, printJson } from '../output.js';
import { UsageError, type Verb } from '../verb.js';

/** At most this many of a problem's commits and paths in the text form (-o json has them all). */
const SHOWN = 5;

function list(xs: string[]): string {
  return xs.length > SHOWN ? `${xs.slice(0, SHOWN).join(', ')} and ${xs.length - SHOWN} more` : xs.join(', ');
}

function printProblem(p: Problem, i: number): void {
  out(`problem ${i + 1} (${p.kind}): ${p.message}`);
  const a = p.affects;
  if (a.paths.length) out(`  files: ${list(a.paths)}`);
  if (a.commits.length) out(`  commits: ${list(a.commits)}`);
  if (a.branches.length) out(`  branches: ${list(a.branches)}`);
  else if (a.repos.length) out(`  repos: ${list(a.repos)}`);
  out(`  to do: ${p.action}`);
}

function summary(r: FsckResult): string {
  const c = r.checked;
  const rows =
    c.rows.commits !== undefined
      ? `${plural(c.rows.commits, 'commit')}, ${plural(c.rows.files, 'file version')}, ${plural(c.rows.datums, 'datum version')}, `
      : '';
  const blobs = `${plural(c.blobs, 'blob')} (${humanBytes(c.blob_bytes)}, ${c.blobs_hashed ? 'hashed' : 'sizes only'})`;
  const s = c.seconds;
  const time = `${(s.sqlite + s.references + s.blobs).toFixed(1)} s`;
  const found = r.problems.length ? `${plural(r.problems.length, 'problem')} found` : 'no problems';
  return `fsck ${r.home}: ${found}; checked SQLite (${c.sqlite}), ${rows}${blobs} in ${time}`;
}

export const fsckVerbs: Record<string, Verb> = {
  fsck: {
    usage: 'fsck [--fast] [-o json]',
    summary: "check the store: SQLite's integrity, every reference, every blob re-hashed (--fast: sizes only)",
    options: { ...jsonOption, fast: { type: 'boolean' } },
    run(args, v) {
      if (args.length) throw new UsageError('fsck takes no arguments');
      const r = fsck(defaultHome(), { fast: Boolean(v.fast), log: createLogger('tessella') });
      if (wantsJson(v)) printJson({ ok: r.problems.length === 0, ...r });
      else {
        r.problems.forEach(printProblem);
        out(summary(r));
      }
      return r.problems.length ? 1 : 0;
    },
  },
};
