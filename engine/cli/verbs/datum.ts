/** Verbs on datums: list (paged), inspect, and `logs` (their stdout/stderr). */
import { existsSync, readFileSync } from 'node:fs';
import { countOf, jsonOption, one, stringOf, wantsJson } from '../args.js';
import { humanBytes } from '../format.js';
import { countValue } from '../options.js';
import { nextPageHint, out, printJson, printJsonLines, table } from '../output.js';
import { openStoreToRead } from '../session.js';
import { UsageError, type Verb } from '../verb.js';
import { datumFiles, getDatum, lastJob, listDatums, resolveJob, type DatumRow, type JobRow } from '../../pps/jobs.js';
import { mustPipeline } from '../../pps/pipelines.js';
import { StoreError, type Store } from '../../store/store.js';

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

export const datumVerbs: Record<string, Verb> = {
  'list datum': {
    usage: 'list datum PIPELINE@JOB [--limit N] [--after DATUM] [-o json]',
    summary: "list a job's datums by id (--after: only ids after DATUM)",
    options: { ...jsonOption, limit: { type: 'string' }, after: { type: 'string' } },
    schema: { limit: countValue },
    run(args, v) {
      const ref = one(args, 'PIPELINE@JOB');
      const limit = countOf(v, 'limit');
      const after = stringOf(v, 'after');
      const s = openStoreToRead();
      const j = resolveJob(s, ref);
      const ds = listDatums(s, j.id, limit === undefined && after === undefined ? undefined : { limit, after });
      if (wantsJson(v)) printJsonLines(ds.map((d) => datumJson(s, d)));
      else {
        table(
          ['ID', 'FILES', 'STATUS', 'TIME'],
          ds.map((d) => [
            d.id,
            (JSON.parse(d.inputs) as { repo: string; path: string }[]).map((i) => `${i.repo}@${i.path}`).join(', '),
            d.state.toUpperCase(),
            d.seconds != null ? `${d.seconds.toFixed(2)}s` : '-',
          ]),
        );
      }
      nextPageHint(
        ds.length,
        limit,
        () => `tessella list datum ${ref} --limit ${limit} --after ${ds[ds.length - 1].id}`,
      );
    },
  },
  'inspect datum': {
    usage: 'inspect datum PIPELINE@JOB DATUM [-o json]',
    summary: 'show a datum: inputs, state, tries, outputs, log',
    options: jsonOption,
    run(args, v) {
      if (args.length !== 2) throw new UsageError('expected PIPELINE@JOB DATUM');
      const s = openStoreToRead();
      const j = resolveJob(s, args[0]);
      const d = getDatum(s, j.id, args[1]);
      const info = datumJson(s, d, true);
      if (wantsJson(v)) return printJson(info);
      out(`ID: ${d.id}\nJob: ${j.pipeline}@${j.id}\nState: ${d.state.toUpperCase()}\nTries: ${d.tries}`);
      if (d.reused_from) out(`Reused from job: ${d.reused_from}`);
      out(`Inputs:`);
      for (const i of info.inputs as { name: string; repo: string; commit: string; path: string }[])
        out(`  ${i.name}: ${i.repo}@${i.commit}:${i.path}`);
      out(`Outputs:`);
      for (const f of info.output_files ?? []) out(`  ${f.path} (${humanBytes(f.size)})`);
      if (d.error) out(`Error: ${d.error}`);
      if (d.log) out(`Log: ${d.log}`);
    },
  },
  logs: {
    usage: 'logs -p PIPELINE [--job [PIPELINE@]JOB] [--datum DATUM]',
    summary: "print datums' stdout/stderr (default: the pipeline's last job)",
    options: {
      pipeline: { type: 'string', short: 'p' },
      job: { type: 'string', short: 'j' },
      datum: { type: 'string' },
    },
    run(args, v) {
      if (args.length) throw new UsageError('logs takes options only: -p PIPELINE [--job JOB] [--datum DATUM]');
      const s = openStoreToRead();
      let job: JobRow | undefined;
      if (v.job)
        job = resolveJob(s, v.pipeline && !String(v.job).includes('@') ? `${v.pipeline}@${v.job}` : String(v.job));
      else if (v.pipeline) job = lastJob(s, mustPipeline(s, String(v.pipeline)).name);
      else throw new UsageError('logs needs -p PIPELINE or --job PIPELINE@JOB');
      if (!job) throw new StoreError(`pipeline ${v.pipeline} has no jobs yet`);
      const ds = v.datum
        ? [getDatum(s, job.id, String(v.datum))]
        : listDatums(s, job.id).filter((d) => d.state !== 'skipped');
      for (const d of ds) {
        // a reused datum's log is the one of the job that ran it
        let logFile = d.log;
        if (!logFile && d.reused_from) logFile = getDatum(s, d.reused_from, d.id).log;
        if (!logFile || !existsSync(logFile)) continue;
        process.stdout.write(readFileSync(logFile));
      }
    },
  },
};
