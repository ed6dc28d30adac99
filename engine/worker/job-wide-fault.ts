/**
 * Faults that would fail every datum of a job the same way, however often tried: a model or its card that does
 * not load, a parameter the stage refuses (the datum's error event says so with `kind`), a full disk. A job stops
 * at the first one, with its reason, instead of trying every datum `datumTries` times (at 1,000 slides, 3,000
 * model opens before it gives up); what may pass on a second try (a crash, a timeout) is still retried.
 */

/** An error event's `kind` that marks a fault of the job's inputs or settings, not of one datum. */
const JOB_WIDE_KINDS: Readonly<Record<string, string>> = {
  model: 'a model fault',
  parameters: 'a parameter fault',
};

/** What fails every datum alike, in words ('a model fault', 'a full disk'), or undefined when a retry may pass. */
export function jobWideFault(failure: { reason?: string; kind?: string; code?: unknown }): string | undefined {
  if (failure.kind && Object.hasOwn(JOB_WIDE_KINDS, failure.kind)) return JOB_WIDE_KINDS[failure.kind];
  if (failure.code === 'ENOSPC' || failure.code === 'EDQUOT') return 'a full disk';
  if (failure.reason && /\b(ENOSPC|EDQUOT)\b|no space left on (the )?device|disk quota exceeded/i.test(failure.reason))
    return 'a full disk';
  return undefined;
}

/**
 * What a full disk means to the user: the store's device, which holds every datum's scratch and outputs, when the
 * message names a path there (`/pfs/...` or the store), else the device of the path it names.
 */
export function fullDiskAdvice(home: string, message: string): string {
  return /(^|[\s'"(])\/pfs\//.test(message) || message.includes(home) || !/\//.test(message)
    ? `no space left on the device holding the store ${home} (TESSELLA_HOME): free space there and run again`
    : 'no space left on the device of the file named: free space there and run again';
}
