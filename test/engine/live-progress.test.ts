/**
 * `tessella run`'s live display: each running datum's progress read from the stages' progress events in the
 * datum logs, and the job's tiles/s, as lines of the terminal's live block.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DatumLogFollower } from '../../engine/pps/datum-log-follower.js';
import { JobProgress } from '../../engine/pps/job-progress.js';
import { Logger } from '../../shared/log.js';
import { Progress } from '../../shared/progress.js';

const dir = mkdtempSync(join(tmpdir(), 'tessella-live-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Polls once the folder's watch has reported what was written (as the display's timer does, a tick later). */
async function settled(f: DatumLogFollower) {
  await new Promise((r) => setTimeout(r, 100));
  return f.poll();
}

/** A stage's logger off a terminal, writing into a datum log as the datum process does. */
function stageLog(file: string, slide: string): Logger {
  return new Logger('normalize', { slide }, { isTTY: false, write: (l) => appendFileSync(file, l) });
}

test('the follower reads each datum log from where it stopped: progress, then done; a new attempt starts over', async () => {
  const logs = join(dir, 'job1');
  const follower = new DatumLogFollower(logs);
  assert.deepEqual(await settled(follower), [], 'no folder yet');
  mkdirSync(logs);
  const a = join(logs, 'aaaa.log');
  writeFileSync(a, '--- datum aaaa attempt 1/3 2026-01-01T00:00:00Z\n');
  const p = new Progress(stageLog(a, 'S1'), 'normalize', 10, 'tiles', 0);
  p.tick(4);
  let [d] = await settled(follower);
  assert.deepEqual(
    [d.datum, d.slide, d.label, d.unit, d.done, d.total, d.finished],
    ['aaaa', 'S1', 'normalize', 'tiles', 4, 10, false],
  );
  assert.equal(typeof d.rate, 'number');
  p.tick(6);
  appendFileSync(a, '{"event":"norm'); // a line being written: read once it is whole
  [d] = await settled(follower);
  assert.equal(d.done, 10);
  appendFileSync(a, 'alize done","tiles":10,"tiles_per_s":5,"slide":"S1"}\n');
  [d] = await settled(follower);
  assert.deepEqual([d.done, d.finished], [10, true]);

  const b = join(logs, 'bbbb.log');
  writeFileSync(b, '--- datum bbbb attempt 1/3 x\n');
  new Progress(stageLog(b, 'S2'), 'normalize', 8, 'tiles', 0).tick(3);
  appendFileSync(b, '--- attempt 1 failed: exit code 1\n');
  assert.equal(
    (await settled(follower)).find((x) => x.datum === 'bbbb')!.finished,
    true,
    'a failed attempt is not running',
  );
  appendFileSync(b, '--- datum bbbb attempt 2/3 x\n');
  new Progress(stageLog(b, 'S2'), 'normalize', 8, 'tiles', 0).tick(1);
  const again = (await settled(follower)).find((x) => x.datum === 'bbbb')!;
  assert.deepEqual([again.done, again.finished], [1, false]);
  follower.close();
});

test('on a terminal the job shows its line with tiles/s, then a line per running datum; end erases the block', () => {
  const logs = join(dir, 'job2');
  mkdirSync(logs);
  for (const [id, slide, n] of [
    ['d1', 'S01', 120],
    ['d2', 'S02', 30],
  ] as const) {
    const f = join(logs, `${id}.log`);
    writeFileSync(f, `--- datum ${id} attempt 1/3 x\n`);
    new Progress(stageLog(f, slide), 'embed', 426, 'tiles', 0).tick(n);
  }
  const footers: string[][] = [];
  const log = new Logger('tessella', {}, { isTTY: true, write: () => undefined, footer: (l) => void footers.push(l) });
  const job = new JobProgress(log, 'embed', 'j2', 8, logs);
  job.skipped = 1;
  job.draw();
  const block = footers.at(-1)!;
  assert.match(
    block[0],
    /^\[tessella\] embed: 1\/8 12% \(0 run, 1 skipped, 0 failed\) [\d.]+ datums\/s, 150 tiles [\d.]+ tiles\/s$/,
  );
  assert.equal(block.length, 3);
  assert.match(block[1], /^ {2}S01 embed 120\/426 28% [\d.]+ tiles\/s/);
  assert.match(block[2], /^ {2}S02 embed 30\/426 7% [\d.]+ tiles\/s/);
  job.end();
  assert.deepEqual(footers.at(-1), [], 'erased at the end');
});
