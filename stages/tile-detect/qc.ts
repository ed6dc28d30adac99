/**
 * QC pictures a person opens first: the slide's thumbnail; the thumbnail with kept tiles outlined in green,
 * dropped tiles that hold tissue shaded red and tiles cut by MAX_TILES outlined orange; and the kept tiles as
 * GeoJSON in level-0 pixels (QuPath: File > Import objects).
 */
import sharp from 'sharp';
import type { OverviewStrip } from '../../shared/slide/overview.js';
import type { RgbImage } from '../../shared/slide/types.js';
import type { Detection } from './detect.js';
import { TileStatus } from './tissue.js';

/** Dropped tiles with at least this much tissue are shaded as "dropped tissue". */
export const QC_MIN_TISSUE = 0.05;

const GREEN = [0, 190, 0] as const;
const RED = [230, 0, 0] as const;
const ORANGE = [255, 150, 0] as const;

export interface QcPictures {
  thumbnail: Buffer;
  tiles: Buffer;
  geojson: string;
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
    private readonly overviewWidth: number,
    private readonly overviewHeight: number,
    maxSide: number,
  ) {
    this.k = Math.max(1, Math.ceil(Math.max(overviewWidth, overviewHeight) / maxSide));
    this.step = Math.ceil(this.k / 2);
    this.width = Math.ceil(overviewWidth / this.k);
    this.height = Math.ceil(overviewHeight / this.k);
    this.data = Buffer.alloc(this.width * this.height * 3);
    this.acc = new Uint32Array(this.k > 1 ? this.width * 3 : 0);
    this.count = new Uint16Array(this.k > 1 ? this.width : 0);
  }

  addStrip(strip: OverviewStrip): void {
    const { k, step } = this;
    if (k === 1) {
      for (const { x, width: pw, data } of strip.pieces) {
        for (let r = 0; r < strip.rows; r++) data.copy(this.data, ((strip.y + r) * this.width + x) * 3, r * pw * 3, (r + 1) * pw * 3);
      }
      return;
    }
    const { acc, count } = this;
    for (let r = 0; r < strip.rows; r++) {
      const y = strip.y + r;
      const inCell = y % k;
      if (inCell === 0 || inCell === step) {
        for (const piece of strip.pieces) sampleRow(piece.data, (r * piece.width - piece.x) * 3, piece.x, piece.x + piece.width, k, step, acc, count);
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
function sampleRow(data: Buffer, rowOff: number, x0: number, x1: number, k: number, step: number, acc: Uint32Array, count: Uint16Array): void {
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

function jpeg(img: RgbImage): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: 90, optimiseCoding: false }).toBuffer();
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
    else if (selection.tissueFraction[t] >= QC_MIN_TISSUE) shade(img, x0, y0, x1, y1, RED, 0.4);
  }
}

function setPixel(img: RgbImage, x: number, y: number, c: readonly number[]): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const p = (y * img.width + x) * 3;
  img.data[p] = c[0];
  img.data[p + 1] = c[1];
  img.data[p + 2] = c[2];
}

function outline(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: readonly number[], thickness: number): void {
  for (let k = 0; k < thickness; k++) {
    for (let x = x0; x <= x1; x++) {
      setPixel(img, x, y0 + k, c);
      setPixel(img, x, y1 - k, c);
    }
    for (let y = y0; y <= y1; y++) {
      setPixel(img, x0 + k, y, c);
      setPixel(img, x1 - k, y, c);
    }
  }
}

function shade(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: readonly number[], alpha: number): void {
  for (let y = Math.max(0, y0); y <= Math.min(img.height - 1, y1); y++) {
    for (let x = Math.max(0, x0); x <= Math.min(img.width - 1, x1); x++) {
      const p = (y * img.width + x) * 3;
      for (let ch = 0; ch < 3; ch++) img.data[p + ch] = Math.round(img.data[p + ch] * (1 - alpha) + c[ch] * alpha);
    }
  }
}

/** Kept tiles as a GeoJSON FeatureCollection of squares in level-0 pixels, as QuPath imports objects. */
export function keptTilesGeoJson(d: Detection): string {
  const size = d.grid.tileSize;
  const features = d.tilesJson.tiles.map((t) => ({
    type: 'Feature',
    geometry: {
      type: 'Polygon',
      coordinates: [[[t.x, t.y], [t.x + size, t.y], [t.x + size, t.y + size], [t.x, t.y + size], [t.x, t.y]]],
    },
    properties: {
      objectType: 'tile',
      name: `tile ${t.col},${t.row}`,
      classification: { name: 'Tissue tile', color: [...GREEN] },
      measurements: { 'Tissue fraction': t.tissue_fraction, col: t.col, row: t.row },
    },
  }));
  return JSON.stringify({ type: 'FeatureCollection', features }) + '\n';
}
