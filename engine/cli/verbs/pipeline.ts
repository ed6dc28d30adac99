/** Verbs on pipelines: create and update from spec files, delete, list, inspect. */
import { jsonOption, one, wantsJson } from '../args.js';
import { ago } from '../format.js';
import { note, out, printJson, printJsonLines, table } from '../output.js';
import { openStore, openStoreToRead } from '../session.js';
import { UsageError, type Values, type Verb } from '../verb.js';
import { lastJob } from '../../pps/jobs.js';
import {
  deletePipeline,
  mustPipeline,
  orderedPipelines,
  putPipelines,
  specOf,
  type PipelineRow,
} from '../../pps/pipelines.js';
import { inputsOf, type PipelineSpec } from '../../pps/spec/pipeline-spec.js';
import { loadSpecFiles } from '../../pps/spec/load.js';
import type { Store } from '../../store/store.js';

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
    inputs: inputsOf(spec.input).map((i) => ({
      name: i.name,
      repo: i.repo,
      branch: i.branch ?? 'master',
      glob: i.glob,
    })),
    last_job: last ? { id: last.id, state: last.state } : null,
    details: spec,
  };
}

/** The input tree in one line: `slides:/*`, `cross(slides:/*, models:/)`. */
function inputSummary(spec: PipelineSpec): string {
  const leaf = (x: Record<string, unknown>): string => {
    if (x.pfs) {
      const p = x.pfs as { repo: string; glob: string; branch?: string };
      return `${p.repo}:${p.glob}`;
    }
    for (const k of ['cross', 'union', 'join', 'group'])
      if (Array.isArray(x[k])) return `${k}(${(x[k] as Record<string, unknown>[]).map(leaf).join(', ')})`;
    return '?';
  };
  return leaf(spec.input as Record<string, unknown>);
}

function putSpecFiles(args: string[], v: Values, update: boolean, reprocess: boolean): void {
  if (args.length) throw new UsageError('pass spec files with -f SPEC');
  const files = (v.file as string[] | undefined) ?? [];
  if (!files.length) throw new UsageError('expected -f SPEC');
  const { specs, fileOf } = loadSpecFiles(files);
  const r = putPipelines(openStore(), specs, { update, reprocess, files: fileOf });
  for (const n of r.created) note(`created pipeline ${n}`);
  for (const n of r.updated) note(`updated pipeline ${n}${reprocess ? ' (new salt: every datum reprocesses)' : ''}`);
  for (const n of r.unchanged) note(`pipeline ${n} unchanged`);
}

export const pipelineVerbs: Record<string, Verb> = {
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
      await s.acquireRunner('tessella delete pipeline', undefined, (m) => note(m));
      deletePipeline(s, one(args, 'a pipeline name'), { keepRepo: Boolean(v['keep-repo']) });
    },
  },
  'list pipeline': {
    usage: 'list pipeline [-o json]',
    summary: 'list pipelines',
    options: jsonOption,
    run(_args, v) {
      const s = openStoreToRead();
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
    options: jsonOption,
    run(args, v) {
      const s = openStoreToRead();
      const p = mustPipeline(s, one(args, 'a pipeline name'));
      const j = pipelineJson(s, p);
      if (wantsJson(v)) return printJson(j);
      out(
        `Name: ${p.name}\nVersion: ${p.version}\nSpec file: ${p.file ?? '-'}\nInput: ${inputSummary(specOf(p))}\nLast job: ${j.last_job ? `${j.last_job.id} ${j.last_job.state}` : '-'}`,
      );
      out(JSON.stringify(j.details, null, 2));
    },
  },
};
