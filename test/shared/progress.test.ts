/** The one progress meter: the stages' item counts and the engine's job datums, on a terminal and off it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobProgress } from '../../engine/pps/job-progress.js';
import { Logger } from '../../shared/log.js';
import { Progress } from '../../shared/progress.js';

function sink(isTTY: boolean) {
  const written: string[] = [];
  return { written, log: new Logger('t', {}, { isTTY, write: (l) => void written.push(l) }) };
}

test('off a terminal: throttled JSON progress events, one done event with the rate', () => {
  const { log, written } = sink(false);
  const p = new Progress(log, 'tiles', 4, 'tiles', 0);
  p.tick();
  p.tick(3);
  const summary = p.finish({ slide: 's1' });
  p.finish();
  const events = written.map((l) => JSON.parse(l));
  assert.deepEqual(
    events.map((e) => [e.event, e.done ?? e.tiles]),
    [
      ['tiles progress', 1],
      ['tiles progress', 4],
      ['tiles done', 4],
    ],
  );
  assert.equal(events[2].slide, 's1');
  assert.equal(typeof events[2].tiles_per_s, 'number');
  assert.equal(summary.count, 4);
  // the default throttle off a terminal: one event per 5 s at most
  assert.equal(log.progress('x', undefined).intervalMs, 5000);
});

test('on a terminal: one redrawn line with count, percentage and rate; cleared at the end', () => {
  const { log, written } = sink(true);
  const p = new Progress(log, 'embed', 10, 'tiles', 0);
  p.tick(5);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's own escape sequence is what is tested
  assert.match(written[0], /^\r\x1b\[2K\[t\] embed 5\/10 50% [\d.]+ tiles\/s/);
  p.end();
  assert.equal(written[1], '\r\x1b[2K');
});

test("a job's datums: run/skipped/failed counted, rate over the ones that ran, 'job progress' events", () => {
  const { log, written } = sink(false);
  const p = new JobProgress(log, 'embed', 'j1', 5);
  p.skipped = 2;
  p.update('processed');
  p.update('failed');
  assert.equal(p.done, 4);
  p.draw();
  const e = JSON.parse(written.at(-1)!);
  assert.equal(e.event, 'job progress');
  assert.deepEqual([e.pipeline, e.job, e.total, e.processed, e.skipped, e.failed], ['embed', 'j1', 5, 1, 2, 1]);
  assert.match(p.line(), /^embed: 4\/5 80% \(1 run, 2 skipped, 1 failed\) [\d.]+ datums\/s/);
  assert.ok(p.end() >= 0);
});
