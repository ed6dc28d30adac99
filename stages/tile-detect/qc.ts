/**
 * QC pictures a person opens first: the slide's thumbnail; the thumbnail with kept tiles outlined in green,
 * dropped tiles that hold tissue shaded red and tiles cut by MAX_TILES outlined orange; and the kept tiles as
 * GeoJSON in level-0 pixels (QuPath: File > Import objects).
 */
import type { OverviewStrip, RgbImage } from '../../shared/slide/index.js';
import type { Detection } from './detect.js';
import { TileStatus } from './tissue.js';
import { loadSharp } from '../../shared/sharp.js';

/** Dropped tiles with at least this much tissue are shaded as "dropped tissue". */
export const QC_MIN_TISSUE = 0.05;

const GREEN = [0, 190, 0] as const;
const RED = [230, 0, 0] as const;
const ORANGE = [255, 150, 0] as const;

export interface QcPictures {
  thumbnail: Buffer;
  tiles: Buffer;
  /** UTF-8 (ASCII) text. */
  geojson: Buffer;
}

/**
 * The thumbnail (at most maxSide a side) built from the overview's strips as they come, so the overview itself is
 * never held: the overview as it is when it fits; else, with k the smallest integer that fits it, one pixel per
 * k x k cell, the mean of up to 2 x 2 samples spread over the cell (offsets 0 and ceil(k/2)). A QC picture needs
 * no exact area mean, and this runs over the whole overview while the slide is read: it touches 4 of k^2 pixels.
 */
export class ThumbnailBuilder {
  readonly width: number;
  readonly height: number;
  private readonly k: number;
  private readonly step: number;
  private readonly data: Buffer;
  /** Sums and sample counts of the output row being built. */
  private readonly acc: Uint32Array;
  private readonly count: Uint16Array;

  constructor(
    overviewWidth: number,
    private readonly overviewHeight: number,
    maxSide: number,
  ) {
    this.k = Math.max(1, Math.ceil(Math.max(overviewWidth, overviewHeight) / maxSide));
    this.step = Math.ceil(this.k / 2);
    this.width = Math.ceil(overviewWidth / this.k);
    this.height = Math.ceil(overviewHeight / this.k);
    // Every pixel is written (cells flushed as strips come, or the overview copied).
    this.data = Buffer.allocUnsafeSlow(this.width * this.height * 3);
    this.acc = new Uint32Array(this.k > 1 ? this.width * 3 : 0);
    this.count = new Uint16Array(this.k > 1 ? this.width : 0);
  }

  addStrip(strip: OverviewStrip): void {
    const { k, step } = this;
    if (k === 1) {
      for (const { x, width: pw, data } of strip.pieces) {
        for (let r = 0; r < strip.rows; r++)
          data.copy(this.data, ((strip.y + r) * this.width + x) * 3, r * pw * 3, (r + 1) * pw * 3);
      }
      return;
    }
    const { acc, count } = this;
    for (let r = 0; r < strip.rows; r++) {
      const y = strip.y + r;
      const inCell = y % k;
      if (inCell === 0 || inCell === step) {
        for (const piece of strip.pieces)
          sampleRow(piece.data, (r * piece.width - piece.x) * 3, piece.x, piece.x + piece.width, k, step, acc, count);
      }
      // The cell row is complete at its last row (strips come top to bottom).
      if (inCell === k - 1 || y === this.overviewHeight - 1) this.flushRow(Math.floor(y / k));
    }
  }

  private flushRow(outY: number): void {
    const { acc, count, data } = this;
    let o = outY * this.width * 3;
    for (let c = 0, a = 0; c < this.width; c++, a += 3, o += 3) {
      const n = count[c];
      if (n === 4) {
        // The usual cell: 2 x 2 samples, a shift.
        data[o] = (acc[a] + 2) >>> 2;
        data[o + 1] = (acc[a + 1] + 2) >>> 2;
        data[o + 2] = (acc[a + 2] + 2) >>> 2;
      } else {
        const half = n >> 1;
        data[o] = Math.floor((acc[a] + half) / n);
        data[o + 1] = Math.floor((acc[a + 1] + half) / n);
        data[o + 2] = Math.floor((acc[a + 2] + half) / n);
      }
    }
    acc.fill(0);
    count.fill(0);
  }

  finish(): RgbImage {
    return { width: this.width, height: this.height, data: this.data };
  }
}

/**
 * Add the samples of columns [x0, x1) of one overview row to the cells' sums: columns at offsets 0 and `step`
 * of each k-wide cell. `rowOff` is the byte offset of column 0 of this row in `data` (may be negative).
 */
function sampleRow(
  data: Buffer,
  rowOff: number,
  x0: number,
  x1: number,
  k: number,
  step: number,
  acc: Uint32Array,
  count: Uint16Array,
): void {
  for (let c = Math.floor(x0 / k), a = c * k; a < x1; c++, a += k) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let n = 0;
    if (a >= x0) {
      const p = rowOff + a * 3;
      s0 = data[p];
      s1 = data[p + 1];
      s2 = data[p + 2];
      n = 1;
    }
    const b = a + step;
    if (b >= x0 && b < x1) {
      const p = rowOff + b * 3;
      s0 += data[p];
      s1 += data[p + 1];
      s2 += data[p + 2];
      n++;
    }
    acc[c * 3] += s0;
    acc[c * 3 + 1] += s1;
    acc[c * 3 + 2] += s2;
    count[c] += n;
  }
}

/** The thumbnail and the overlay of the verdicts on it, both encoded at once (libvips' threads). */
export async function makeQcPictures(d: Detection, thumbnail: RgbImage): Promise<QcPictures> {
  const overlay = { ...thumbnail, data: Buffer.from(thumbnail.data) };
  const thumbJpeg = jpeg(thumbnail);
  drawTiles(overlay, d);
  const tilesJpeg = jpeg(overlay);
  // Written here while both encode.
  const geojson = keptTilesGeoJson(d);
  const [thumb, tiles] = await Promise.all([thumbJpeg, tilesJpeg]);
  return { thumbnail: thumb, tiles, geojson };
}

/** The thumbnail of a whole overview (at most maxSide a side), as the strips would build it. */
export function thumbnailOf(overview: RgbImage, maxSide: number): RgbImage {
  const b = new ThumbnailBuilder(overview.width, overview.height, maxSide);
  b.addStrip({ y: 0, rows: overview.height, pieces: [{ x: 0, width: overview.width, data: overview.data }] });
  return b.finish();
}

async function jpeg(img: RgbImage): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality: 90, optimiseCoding: false })
    .toBuffer();
}

/** Draw the grid's verdicts onto `img`, a picture of the whole slide at any scale. */
export function drawTiles(img: RgbImage, d: Detection): void {
  const { grid, selection } = d;
  const level0Width = d.overview.width * d.overview.scaleX;
  const level0Height = d.overview.height * d.overview.scaleY;
  const fx = img.width / level0Width;
  const fy = img.height / level0Height;
  const cell = grid.tileSize * fx;
  const thickness = cell >= 24 ? 2 : 1;
  const red = blendTable(RED, 0.4);
  for (let t = 0; t < selection.status.length; t++) {
    const col = t % grid.cols;
    const row = Math.floor(t / grid.cols);
    const x0 = Math.round(col * grid.tileSize * fx);
    const y0 = Math.round(row * grid.tileSize * fy);
    const x1 = Math.round((col + 1) * grid.tileSize * fx) - 1;
    const y1 = Math.round((row + 1) * grid.tileSize * fy) - 1;
    const status = selection.status[t];
    if (status === TileStatus.Kept) outline(img, x0, y0, x1, y1, GREEN, thickness);
    else if (status === TileStatus.OverMaxTiles) outline(img, x0, y0, x1, y1, ORANGE, thickness);
    else if (selection.tissueFraction[t] >= QC_MIN_TISSUE) shade(img, x0, y0, x1, y1, red);
  }
}

/** Fill columns [x0, x1] of row y (clipped to the picture) with colour c. */
function hline(img: RgbImage, y: number, x0: number, x1: number, c: readonly number[]): void {
  if (y < 0 || y >= img.height) return;
  const a = Math.max(0, x0);
  const b = Math.min(img.width - 1, x1);
  const d = img.data;
  for (let p = (y * img.width + a) * 3, end = (y * img.width + b) * 3; p <= end; p += 3) {
    d[p] = c[0];
    d[p + 1] = c[1];
    d[p + 2] = c[2];
  }
}

/** Fill rows [y0, y1] of column x (clipped to the picture) with colour c. */
function vline(img: RgbImage, x: number, y0: number, y1: number, c: readonly number[]): void {
  if (x < 0 || x >= img.width) return;
  const a = Math.max(0, y0);
  const b = Math.min(img.height - 1, y1);
  const d = img.data;
  const stride = img.width * 3;
  for (let p = (a * img.width + x) * 3, end = (b * img.width + x) * 3; p <= end; p += stride) {
    d[p] = c[0];
    d[p + 1] = c[1];
    d[p + 2] = c[2];
  }
}

function outline(
  img: RgbImage,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  c: readonly number[],
  thickness: number,
): void {
  for (let k = 0; k < thickness; k++) {
    hline(img, y0 + k, x0, x1, c);
    hline(img, y1 - k, x0, x1, c);
    vline(img, x0 + k, y0, y1, c);
    vline(img, x1 - k, y0, y1, c);
  }
}

/** Per channel, each byte blended with the colour: round(v * (1 - alpha) + c * alpha), looked up. */
function blendTable(c: readonly number[], alpha: number): Uint8Array {
  const t = new Uint8Array(3 * 256);
  for (let ch = 0; ch < 3; ch++)
    for (let v = 0; v < 256; v++) t[ch * 256 + v] = Math.round(v * (1 - alpha) + c[ch] * alpha);
  return t;
}

function shade(img: RgbImage, x0: number, y0: number, x1: number, y1: number, table: Uint8Array): void {
  const d = img.data;
  const xa = Math.max(0, x0);
  const xb = Math.min(img.width - 1, x1);
  for (let y = Math.max(0, y0); y <= Math.min(img.height - 1, y1); y++) {
    for (let p = (y * img.width + xa) * 3, end = (y * img.width + xb) * 3; p <= end; p += 3) {
      d[p] = table[d[p]];
      d[p + 1] = table[256 + d[p + 1]];
      d[p + 2] = table[512 + d[p + 2]];
    }
  }
}

/**
 * Kept tiles as a GeoJSON FeatureCollection of squares in level-0 pixels, as QuPath imports objects: the bytes
 * JSON.stringify gives for the same objects (plus a newline), written straight into one buffer with each
 * coordinate's and fraction's digits made once (with tens of thousands of tiles, building the objects and
 * joining strings cost more than the rest of the QC step).
 */
export function keptTilesGeoJson(d: Detection): Buffer {
  const size = d.grid.tileSize;
  const tiles = d.tilesJson.tiles;
  const colour = JSON.stringify([...GREEN]);
  const side = Math.max(d.grid.cols, d.grid.rows) + 2;
  const edges = Array.from({ length: side }, (_, i) => String(i * size));
  const index = Array.from({ length: side }, (_, i) => String(i));
  const fractions = new Map<number, string>();
  const feature = (x: string, x1: string, y: string, y1: string, col: string, row: string, f: string) =>
    `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[${x},${y}],[${x1},${y}],[${x1},${y1}],[${x},${y1}],[${x},${y}]]]},` +
    `"properties":{"objectType":"tile","name":"tile ${col},${row}","classification":{"name":"Tissue tile","color":${colour}},` +
    `"measurements":{"Tissue fraction":${f},"col":${col},"row":${row}}}}`;
  const head = '{"type":"FeatureCollection","features":[';
  const tail = ']}\n';
  // Every feature is at most this long: the longest number texts in every place (fractions are <= 1, 4 decimals).
  let longest = '';
  for (const t of tiles)
    for (const v of [t.x + size, t.y + size, t.col, t.row]) if (String(v).length > longest.length) longest = String(v);
  const most = feature(longest, longest, longest, longest, longest, longest, '0.00000000000000001').length + 1;
  const out = Buffer.allocUnsafe(head.length + tiles.length * most + tail.length);
  let o = out.write(head, 0, 'latin1');
  for (let i = 0; i < tiles.length; i++) {
    const t = tiles[i];
    let f = fractions.get(t.tissue_fraction);
    if (f === undefined) fractions.set(t.tissue_fraction, (f = JSON.stringify(t.tissue_fraction)));
    // Tiles lie on the grid (x = col * size, y = row * size); written from their own numbers otherwise.
    const onGrid = t.x === t.col * size && t.y === t.row * size;
    const text = onGrid
      ? feature(edges[t.col], edges[t.col + 1], edges[t.row], edges[t.row + 1], index[t.col], index[t.row], f)
      : feature(String(t.x), String(t.x + size), String(t.y), String(t.y + size), String(t.col), String(t.row), f);
    if (o + text.length + 1 + tail.length > out.length)
      throw new Error(`tiles.geojson: feature ${i} overruns its estimated size (a bug)`);
    o += out.write(i > 0 ? ',' + text : text, o, 'latin1');
  }
  o += out.write(tail, o, 'latin1');
  return out.subarray(0, o);
}
