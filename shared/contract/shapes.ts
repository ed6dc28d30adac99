/** Shape constants of the formats between stages. */

/** Colour histogram: bins per RGB channel (bin = value >> 4) ... */
export const HISTOGRAM_BINS_PER_CHANNEL = 16;
/** ... and bins in all, index r*256 + g*16 + b: histogram.safetensors' `sum` and the record's `color_histogram`. */
export const HISTOGRAM_BINS = HISTOGRAM_BINS_PER_CHANNEL ** 3;
