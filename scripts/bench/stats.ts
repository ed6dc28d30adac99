/** Small statistics the benchmarks print. */

/** The middle value of `xs` (the upper of the two middle ones for an even count). */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
