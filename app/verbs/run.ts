/** `tessella run`: the engine's run, then what does not match between the manifest and the slides (run-summary). */
import { openStore } from '../../engine/cli/session.js';
import type { ParsedVerb, Verb } from '../../engine/cli/verb.js';
import { runVerbs as engineRunVerbs } from '../../engine/cli/verbs/run.js';
import { manifestMatchLines } from '../run-summary.js';

const engineRun = engineRunVerbs.run as ParsedVerb;

export const runVerbs: Record<string, Verb> = {
  run: {
    ...engineRun,
    async run(args, values) {
      const code = await engineRun.run(args, values);
      const lines = manifestMatchLines(openStore());
      if (lines.length) process.stderr.write(`tessella: the manifest and the slides:\n  ${lines.join('\n  ')}\n`);
      return code;
    },
  },
};
