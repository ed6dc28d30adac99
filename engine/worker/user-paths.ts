/**
 * A datum's failure in the user's terms: the paths its process saw (its scratch PFS_ROOT, a lazy input's blob) are
 * the engine's, not the user's. An input file becomes `<repo>@<branch>:<path>` (`models@master:/embed/model.json`),
 * the output folder `/pfs/out`, the rest of the root `/pfs`, as a stage in a Pachyderm container would say them.
 */
import type { Datum } from '../pps/datums.js';

/** `text` with the datum's scratch paths under `root` and the blob paths of its inputs named as the user knows them. */
export function inUserTerms(text: string, root: string, datum: Datum, blobPath: (hash: string) => string): string {
  const r = root.replace(/\/+$/, '');
  let out = text;
  // longer input names first, so that input `a` does not take a path of input `ab`
  const inputs = [...datum.inputs].sort((a, b) => b.name.length - a.name.length);
  for (const input of inputs) out = out.split(`${r}/${input.name}/`).join(`${input.repo}@${input.branch}:/`);
  out = out.split(`${r}/`).join('/pfs/').split(r).join('/pfs');
  if (out.includes(blobPath(''))) {
    for (const input of inputs)
      for (const f of input.files) out = out.split(blobPath(f.hash)).join(`${input.repo}@${input.branch}:${f.path}`);
  }
  return out;
}
