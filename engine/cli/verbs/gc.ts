/** `tessella gc`: what no commit, job or running datum needs any more, removed from the store. */
import { createLogger } from '../../../shared/log.js';
import { jsonOption, wantsJson } from '../args.js';
import { humanBytes, plural } from '../format.js';
import { out } from '../output.js';
import { openStore } from '../session.js';
import { UsageError, type Verb } from '../verb.js';
import { gc, type GcResult } from '../../pfs/reclaim.js';

/** `removed 12 blobs (3.40 MiB), 2 scratch folders, 1 temp file; 5 datum outputs pruned` */
export function gcSummary(r: GcResult, dryRun: boolean): string {
  const what = `${plural(r.blobs_removed, 'blob')} (${humanBytes(r.bytes_freed)}), ${plural(r.scratch_removed, 'scratch folder')}, ${plural(r.temp_removed, 'temp file')}`;
  const pruned = plural(r.datum_outputs_pruned, 'datum output');
  return dryRun ? `would remove ${what}; ${pruned} would be pruned` : `removed ${what}; ${pruned} pruned`;
}

export const gcVerbs: Record<string, Verb> = {
  gc: {
    usage: 'gc [--dry-run] [-o json]',
    summary:
      'remove what the store no longer needs: unreferenced blobs, stale scratch and temp files, old datum outputs',
    options: { ...jsonOption, 'dry-run': { type: 'boolean' } },
    async run(args, v) {
      if (args.length) throw new UsageError('gc takes no arguments');
      const asJson = wantsJson(v);
      const dryRun = Boolean(v['dry-run']);
      const r = await gc(openStore(), { dryRun, log: createLogger('tessella') });
      if (asJson) return out(JSON.stringify({ dry_run: dryRun, ...r }));
      out(gcSummary(r, dryRun));
    },
  },
};
