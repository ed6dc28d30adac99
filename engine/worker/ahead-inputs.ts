/**
 * Inputs a batch process started ahead of its job may look at before its first datum: each pfs input of a top-level
 * cross whose repo no pipeline writes (a user's repo: models, parameters) and whose glob matches exactly one path, of
 * at most AHEAD_MAX_FILES files, at its branch's head. Every datum of the coming job will then most likely hold that
 * same path with the same files, so a stage can do what depends on it alone (a model stage opens its model) while the
 * pipelines above still run.
 *
 * A hint, never an input: the datum's own inputs decide (a commit made in between changes them, and a stage checks
 * by content that what it prepared is what its datum holds). They are mounted as a datum's are, under
 * $PFS_ROOT/.ahead, named by TESSELLA_AHEAD_<input name> (the matched path, as Pachyderm's `<input name>`), and go
 * with the first datum's clean-up. Pachyderm's own workers give none: there the stage does the same work with its
 * first datum, as here when nothing is ahead.
 */
import { join } from 'node:path';
import { AHEAD_INPUT_PREFIX } from '../../shared/pfs.js';
import { headOf } from '../pfs/commits.js';
import { type Datum, datumId, datumInputEnv, pfsDatums } from '../pps/datums.js';
import { Trees } from '../pps/plan-trees.js';
import type { PipelineSpec } from '../pps/spec/pipeline-spec.js';
import { pipelineRow } from '../store/pipeline-rows.js';
import type { Store } from '../store/store.js';
import { materialize } from './mount.js';

const AHEAD_DIR = '.ahead';
/**
 * Inputs of more files are not shown ahead: a model is two, and mounting costs a link per file in the engine's own
 * thread, which should not grow with what a user keeps in a repo read whole (glob "/").
 */
export const AHEAD_MAX_FILES = 64;

/**
 * Mounts the inputs ahead of `spec`'s next job under `<root>/.ahead` and returns their variables. `privateCopies`: as
 * for a datum (materialize). Nothing, not an error, where there is nothing to mount or mounting fails.
 */
export function mountAhead(
  store: Store,
  spec: PipelineSpec,
  root: string,
  privateCopies: boolean,
): Record<string, string> {
  if (!('cross' in spec.input)) return {};
  const env: Record<string, string> = {};
  for (const child of spec.input.cross) {
    if (!('pfs' in child)) continue;
    const pfs = child.pfs;
    // a pipeline's output changes with the run that is starting: its head now says nothing of the next job's
    if (pipelineRow(store, pfs.repo)) continue;
    try {
      const head = headOf(store, pfs.repo, pfs.branch);
      if (!head) continue;
      const trees = new Trees(store, [{ repo: pfs.repo, branch: pfs.branch, commit: head.id }]);
      const matched = pfsDatums(pfs, (repo, branch, glob) => trees.snapshot(repo, branch, glob));
      if (matched.length !== 1 || matched[0].input.files.length > AHEAD_MAX_FILES) continue;
      const input = matched[0].input;
      const datum: Datum = { id: datumId([input]), inputs: [input] };
      const dir = join(root, AHEAD_DIR);
      materialize(store, datum, dir, privateCopies);
      env[`${AHEAD_INPUT_PREFIX}${pfs.name}`] = datumInputEnv(datum, dir)[pfs.name];
    } catch {
      // only a hint: the datum mounts its inputs itself, and says what is wrong with them
    }
  }
  return env;
}
