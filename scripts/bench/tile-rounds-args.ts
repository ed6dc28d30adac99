/** The options of the per-tile kernel benchmarks (colour-lookup.ts, pair-sums.ts): their tiles, how many, rounds. */
import { parseArgs } from 'node:util';

export interface TileRoundsArgs {
  /** a tiles.tfrecord to take the tiles from, else the benchmark's own */
  tiles?: string;
  count: number;
  rounds: number;
}

export function tileRoundsArgs(): TileRoundsArgs {
  const { values } = parseArgs({
    options: {
      tiles: { type: 'string' },
      count: { type: 'string', default: '443' },
      rounds: { type: 'string', default: '5' },
    },
  });
  const count = Number(values.count);
  const rounds = Number(values.rounds);
  if (!(count >= 1) || !(rounds >= 1)) throw new Error('--count and --rounds are counts such as 443 and 5');
  return { tiles: values.tiles, count, rounds };
}
