/** `tessella init`: the input repos and every pipeline of a folder of specs, created or updated (idempotent). */
import { join, resolve } from 'node:path';
import { appDir } from '../../engine/app-dir.js';
import { out } from '../../engine/cli/output.js';
import { openStore } from '../../engine/cli/session.js';
import { UsageError, type Verb } from '../../engine/cli/verb.js';
import { createRepo } from '../../engine/pfs/repos.js';
import { putPipelines } from '../../engine/pps/pipelines.js';
import { loadSpecFiles } from '../../engine/pps/spec/load.js';
import { INPUT_REPOS, specFilesIn } from '../spec-folder.js';

export const initVerbs: Record<string, Verb> = {
  init: {
    usage: 'init [--pipelines DIR]',
    summary: 'create the slides, manifest and models repos and every pipeline in pipelines/ (idempotent)',
    options: { pipelines: { type: 'string' } },
    run(args, v) {
      if (args.length) throw new UsageError('init takes no arguments');
      const s = openStore();
      for (const r of INPUT_REPOS) if (createRepo(s, r, { ifMissing: true })) out(`created repo ${r}`);
      const dir = resolve((v.pipelines as string | undefined) ?? join(appDir(), 'pipelines'));
      const { specs, fileOf } = loadSpecFiles(specFilesIn(dir));
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
};
