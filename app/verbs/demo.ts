/** `tessella demo` in the verb table; the demo itself (app/demo/) loads only when it runs. */
import type { Verb } from '../../engine/cli/verb.js';

export const demoVerbs: Record<string, Verb> = {
  demo: {
    usage: 'demo [--out DIR] [--patients N] [--slide-size PX] [--no-fixtures]',
    summary: 'a synthetic cohort end to end, then a new slide and a new embed model (see tessella demo --help)',
    main: async (argv) => (await import('../demo/main.js')).main(argv),
  },
};
