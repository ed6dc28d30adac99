/** `tessella run`: every due job, a pipeline after the ones it reads (pps/scheduler.ts); Ctrl-C stops the datums' processes and leaves the job to resume. */
import { createLogger, type Logger } from '../../../shared/log.js';
import { openStore } from '../session.js';
import { UsageError, type Verb } from '../verb.js';
import { killChildren } from '../../worker/children.js';
import { runJobs } from '../../pps/scheduler.js';
import type { JobResult } from '../../pps/job-result.js';

/** Each failed job with its first failed datums and their logs; exit 1 when any failed. */
function report(results: JobResult[], log: Logger): number {
  if (!results.length) {
    log.info('nothing to do: every pipeline is up to date with its inputs');
    return 0;
  }
  const failed = results.filter((r) => r.state !== 'success');
  for (const r of failed) {
    process.stderr.write(`tessella: pipeline ${r.pipeline} job ${r.job} failed: ${r.reason ?? r.state}\n`);
    for (const f of r.failures.slice(0, 10))
      process.stderr.write(`  datum ${f.datum}: ${f.error}\n    log: ${f.log}\n`);
    if (r.failures.length > 10)
      process.stderr.write(`  ... and ${r.failures.length - 10} more (tessella list datum ${r.pipeline}@${r.job})\n`);
  }
  return failed.length ? 1 : 0;
}

export const runVerbs: Record<string, Verb> = {
  run: {
    usage: 'run',
    summary: 'run every due job until nothing is due (a pipeline after those it reads; independent ones at once)',
    options: {},
    async run(args) {
      if (args.length) throw new UsageError('run takes no arguments');
      const s = openStore();
      const log = createLogger('tessella');
      const stop = (sig: string) => {
        killChildren();
        process.stderr.write(`\ntessella: ${sig}: stopped; the job resumes at the next \`tessella run\`\n`);
        s.close();
        process.exit(130);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      const results = await runJobs(s, { log });
      return report(results, log);
    },
  },
};
