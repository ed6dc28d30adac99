/**
 * QC pictures a person opens first: the slide's thumbnail; the thumbnail with kept tiles outlined in green,
 * dropped tiles that hold tissue shaded red and tiles cut by MAX_TILES outlined orange; and the kept tiles as
 * GeoJSON in level-0 pixels (QuPath: File > Import objects).
 */
import sharp from 'sharp';
import { AreaResampler } from '../../shared/slide/area-resampler.js';
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
 * The thumbnail (at most maxSide a side) built from the overview's strips as they come: rows copied when the
 * overview fits, else area-averaged down on the fly, so the overview itself is never held.
 */
export class ThumbnailBuilder {
  readonly width: number;
  readonly height: number;
  private readonly data: Buffer;
  private readonly resampler: AreaResampler | undefined;

  constructor(
    private readonly overviewWidth: number,
    overviewHeight: number,
    maxSide: number,
  ) {
    const scale = Math.min(1, maxSide / Math.max(overviewWidth, overviewHeight));
    this.width = Math.max(1, Math.min(maxSide, Math.round(overviewWidth * scale)));
    this.height = Math.max(1, Math.min(maxSide, Math.round(overviewHeight * scale)));
    this.data = Buffer.alloc(this.width * this.height * 3);
    const rowBytes = this.width * 3;
    this.resampler =
      scale < 1
        ? new AreaResampler(overviewWidth, overviewHeight, this.width, this.height, (y, rows, data) => data.copy(this.data, y * rowBytes, 0, rows * rowBytes))
        : undefined;
  }

  /** Overview rows [y, y + rows), top to bottom. */
  addRows(y: number, rows: number, data: Buffer): void {
    if (!this.resampler) {
      data.copy(this.data, y * this.width * 3, 0, rows * this.width * 3);
      return;
    }
    this.resampler.addBlock(data, 0, y, this.overviewWidth, rows);
    this.resampler.flushRowsBefore(y + rows);
  }

  finish(): RgbImage {
    this.resampler?.finish();
    return { width: this.width, height: this.height, data: this.data };
  }
}

/** The thumbnail and the overlay of the verdicts on it, both encoded at once (libvips' threads). */
export async function makeQcPictures(d: Detection, thumbnail: RgbImage): Promise<QcPictures> {
  const overlay = { ...thumbnail, data: Buffer.from(thumbnail.data) };
  const thumbJpeg = jpeg(thumbnail);
  drawTiles(overlay, d);
  const [thumb, tiles] = await Promise.all([thumbJpeg, jpeg(overlay)]);
  return { thumbnail: thumb, tiles, geojson: keptTilesGeoJson(d) };
}

/** The thumbnail of a whole overview (at most maxSide a side), as the strips would build it. */
export function thumbnailOf(overview: RgbImage, maxSide: number): RgbImage {
  const b = new ThumbnailBuilder(overview.width, overview.height, maxSide);
  b.addRows(0, overview.height, overview.data);
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
