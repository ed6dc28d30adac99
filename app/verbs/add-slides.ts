/** `tessella add slides DIR`: a folder of slides committed as /<slide_id>/<file> (slide-folder.ts), in ONE commit. */
import { one } from '../../engine/cli/args.js';
import { note } from '../../engine/cli/output.js';
import { openStore } from '../../engine/cli/session.js';
import type { Verb } from '../../engine/cli/verb.js';
import { createRepo, getRepo } from '../../engine/pfs/repos.js';
import { putFiles } from '../../engine/pfs/put-files.js';
import { emptySlideFiles, slideItems } from '../slide-folder.js';
import { StoreError } from '../../engine/store/store.js';

export const slideVerbs: Record<string, Verb> = {
  'add slides': {
    usage: 'add slides DIR [--repo slides] [--branch master] [-L|--follow-links]',
    summary: 'commit every slide file or folder of DIR as /<slide_id>/<file>, in ONE commit',
    options: { repo: { type: 'string' }, branch: { type: 'string' }, 'follow-links': { type: 'boolean', short: 'L' } },
    async run(args, v) {
      const dir = one(args, 'a folder of slides');
      const s = openStore();
      const repo = (v.repo as string | undefined) ?? 'slides';
      if (!getRepo(s, repo)) createRepo(s, repo, { ifMissing: true });
      const { files, slides } = slideItems(dir, { followLinks: Boolean(v['follow-links']) });
      // an empty slide is refused into any repo (put file refuses it only into the slides repo: put-checks)
      const empty = emptySlideFiles(files);
      if (empty.length) throw new StoreError(`nothing was added:\n  ${empty.join('\n  ')}`);
      const c = await putFiles(s, repo, (v.branch as string | undefined) ?? 'master', files, {
        description: `tessella add slides ${dir}`,
      });
      note(`${slides} slide(s), ${files.length} file(s) -> ${repo}@${c.branch} commit ${c.id}`);
    },
  },
};
