/**
 * The tissue rule on an overview: a pixel is background when R, G and B are all above the threshold; a grid tile
 * is kept when at most `maxBackgroundFraction` of its overview pixels are background. The grid is laid in
 * level-0 pixels (whole tiles only); an overview pixel belongs to the tile its centre falls in.
 */
import type { RgbImage } from '../../shared/slide/index.js';
import { countBackground, countBackgroundWords, isBackground, LITTLE_ENDIAN } from './background.js';

export interface GridSpec {
  /** Tile side in level-0 pixels. */
  tileSize: number;
  cols: number;
  rows: number;
  /** Level-0 pixels per overview pixel, per axis. */
  scaleX: number;
  scaleY: number;
}

/** Whole tiles of `tileSize` that fit in a level-0 width x height. */
export function gridOf(width: number, height: number, tileSize: number, scaleX: number, scaleY: number): GridSpec {
  return { tileSize, cols: Math.floor(width / tileSize), rows: Math.floor(height / tileSize), scaleX, scaleY };
}

export interface GridMeasure {
  grid: GridSpec;
  /** Per tile, row-major: overview pixels counted, and how many were background. */
  pixels: Int32Array;
  background: Int32Array;
}

/** Which tile (along one axis) each overview pixel's centre falls in; -1 beyond the last whole tile. */
function axisMap(size: number, scale: number, tileSize: number, tiles: number): Int32Array {
  const map = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const t = Math.floor(((i + 0.5) * scale) / tileSize);
    map[i] = t < tiles ? t : -1;
  }
  return map;
}

/** Count background pixels per grid tile in one pass over the overview (the reference GridMeasurer equals). */
export function measureGrid(overview: RgbImage, grid: GridSpec, threshold: number): GridMeasure {
  const n = grid.cols * grid.rows;
  const pixels = new Int32Array(n);
  const background = new Int32Array(n);
  const colOf = axisMap(overview.width, grid.scaleX, grid.tileSize, grid.cols);
  const rowOf = axisMap(overview.height, grid.scaleY, grid.tileSize, grid.rows);
  const d = overview.data;
  for (let y = 0; y < overview.height; y++) {
    const row = rowOf[y];
    if (row < 0) continue;
    let p = y * overview.width * 3;
    for (let x = 0; x < overview.width; x++, p += 3) {
      const col = colOf[x];
      if (col < 0) continue;
      const t = row * grid.cols + col;
      pixels[t]++;
      if (isBackground(d[p], d[p + 1], d[p + 2], threshold)) background[t]++;
    }
  }
  return { grid, pixels, background };
}

export const TileStatus = {
  /** Too much background. */
  Background: 0,
  Kept: 1,
  /** Passed the rule but beyond MAX_TILES. */
  OverMaxTiles: 2,
} as const;

export interface Selection {
  status: Uint8Array;
  tissueFraction: Float64Array;
  kept: number;
  droppedBackground: number;
  droppedMaxTiles: number;
}

/**
 * Keep tiles with background <= maxBackgroundFraction of their pixels (compared in integers, so exactly 10% is
 * kept); with `maxTiles`, only that many with the most tissue (ties: row-major order).
 */
export function selectTiles(m: GridMeasure, maxBackgroundFraction: number, maxTiles?: number): Selection {
  const n = m.pixels.length;
  const status = new Uint8Array(n);
  const tissueFraction = new Float64Array(n);
  const candidates: number[] = [];
  for (let t = 0; t < n; t++) {
    const total = m.pixels[t];
    tissueFraction[t] = total > 0 ? (total - m.background[t]) / total : 0;
    // bg/total <= f, as bg <= f*total with a hair of slack for f*total's rounding (0.1 * 784 = 78.4).
    if (total > 0 && m.background[t] <= maxBackgroundFraction * total + 1e-9) candidates.push(t);
  }
  let keptSet = candidates;
  if (maxTiles !== undefined && candidates.length > maxTiles) {
    keptSet = [...candidates].sort((a, b) => tissueFraction[b] - tissueFraction[a] || a - b).slice(0, maxTiles);
    for (const t of candidates) status[t] = TileStatus.OverMaxTiles;
  }
  for (const t of keptSet) status[t] = TileStatus.Kept;
  return {
    status,
    tissueFraction,
    kept: keptSet.length,
    droppedBackground: n - candidates.length,
    droppedMaxTiles: candidates.length - keptSet.length,
  };
}

/**
 * `measureGrid` fed strip by strip (pieces of rows), in any order: the counts are integers, so the result is
 * exactly measureGrid's on the whole overview, and no more than a strip is ever held.
 */
export class GridMeasurer {
  private readonly pixels: Int32Array;
  private readonly background: Int32Array;
  private readonly rowOf: Int32Array;
  private readonly colOf: Int32Array;
  /** Overview columns [colStart[c], colStart[c + 1]) fall in tile column c. */
  private readonly colStart: Int32Array;

  constructor(
    private readonly grid: GridSpec,
    width: number,
    height: number,
    private readonly threshold: number,
  ) {
    const n = grid.cols * grid.rows;
    this.pixels = new Int32Array(n);
    this.background = new Int32Array(n);
    this.rowOf = axisMap(height, grid.scaleY, grid.tileSize, grid.rows);
    // Tile columns of the pixel centres are non-decreasing along x, so each is one run; past the last whole
    // tile they are -1.
    const colOf = axisMap(width, grid.scaleX, grid.tileSize, grid.cols);
    this.colOf = colOf;
    this.colStart = new Int32Array(grid.cols + 1).fill(width);
    for (let x = width - 1; x >= 0; x--) if (colOf[x] >= 0) this.colStart[colOf[x]] = x;
    let end = 0;
    for (let x = 0; x < width; x++) if (colOf[x] >= 0) end = x + 1;
    this.colStart[grid.cols] = end;
    // A tile column no pixel centre falls in is an empty run where the next one starts.
    for (let c = grid.cols - 1; c >= 0; c--) this.colStart[c] = Math.min(this.colStart[c], this.colStart[c + 1]);
  }

  /** Overview rows [y, y + rows), columns [x, x + width), RGB, `width` wide. */
  addPiece(y: number, rows: number, x: number, width: number, data: Buffer): void {
    const { grid, colStart, threshold: th } = this;
    const x1 = x + width;
    const firstCol = this.colOf[x];
    if (firstCol < 0) return;
    const words =
      LITTLE_ENDIAN && data.byteOffset % 4 === 0
        ? new Uint32Array(data.buffer, data.byteOffset, data.length >> 2)
        : undefined;
    for (let r = 0; r < rows; r++) {
      const row = this.rowOf[y + r];
      if (row < 0) continue;
      const rowPixel = r * width - x;
      const tile0 = row * grid.cols;
      for (let c = firstCol; c < grid.cols && colStart[c] < x1; c++) {
        const xa = Math.max(colStart[c], x);
        const xb = Math.min(colStart[c + 1], x1);
        const i0 = rowPixel + xa;
        const i1 = rowPixel + xb;
        this.pixels[tile0 + c] += xb - xa;
        this.background[tile0 + c] += words
          ? countBackgroundWords(data, words, i0, i1, th)
          : countBackground(data, i0, i1, th);
      }
    }
  }

  result(): GridMeasure {
    return { grid: this.grid, pixels: this.pixels, background: this.background };
  }
}
