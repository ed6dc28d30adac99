/** A Slide read by OpenSlide (vendor formats and tiled generic TIFF). */
import { envSwitch } from '../config.js';
import { turboJpeg } from '../jpeg-turbo.js';
import { BufferPool } from './buffer-pool.js';
import { JpegTileLevel } from './jpeg-tile-level.js';
import { loadOpenSlide, type OpenSlideHandle, type OpenSlideLib } from './openslide-lib.js';
import { streamOverview, streamOverviewStrips } from './overview.js';
import { isOpaqueBgrx, plausibleMpp, premultipliedArgbToRgb } from './pixels.js';
import {
  SlideOpenError,
  SlideReadError,
  type Overview,
  type OverviewStrips,
  type PooledPixels,
  type RegionReadOptions,
  type RgbImage,
  type Slide,
  type SlideLevel,
  type StreamOptions,
} from './types.js';

/** OpenSlide's vendor for a file, or null when OpenSlide does not recognise it (throws if the library is missing). */
export function openSlideVendor(path: string): string | null {
  return loadOpenSlide().detectVendor(path);
}

/**
 * Vendors whose level-0 JPEG tiles OpenSlide decodes straight from the TIFF (openslide-decode-tiff.c), so reading
 * them directly gives its pixels. Others (Hamamatsu's restart-marker JPEGs, Ventana's overlapping tiles, ...) are
 * left to OpenSlide.
 */
const DIRECT_TILE_VENDORS = new Set(['generic-tiff', 'aperio']);

export class OpenSlideSlide implements Slide {
  readonly reader = 'openslide' as const;
  readonly vendor: string;
  readonly levels: readonly SlideLevel[];
  readonly mpp: { x: number; y: number } | undefined;
  readonly objectivePower: number | undefined;
  readonly properties: Readonly<Record<string, string>>;
  readonly associatedImages: readonly string[];
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * ARGB buffers, reused: readRegion's (one per read in flight, converted out of) and readRegionPooled's (converted
   * in place and lent out until released), so the pool holds about as many as a stream of reads holds at once.
   */
  private readonly pool = new BufferPool(64);
  /** Level 0's JPEG tiles read directly, opened at the first level-0 read; undefined inside where not possible. */
  private directLevel0: Promise<JpegTileLevel | undefined> | undefined;
  /** TESSELLA_DIRECT_TILES=off when the slide was opened: everything through OpenSlide (the benchmark's comparison). */
  private readonly directTilesAllowed = envSwitch('TESSELLA_DIRECT_TILES');

  private constructor(
    readonly path: string,
    private readonly lib: OpenSlideLib,
    private readonly osr: OpenSlideHandle,
  ) {
    const props: Record<string, string> = {};
    for (const name of lib.propertyNames(osr)) props[name] = lib.propertyValue(osr, name) ?? '';
    this.properties = props;
    this.vendor = props['openslide.vendor'] || lib.detectVendor(path) || 'unknown';
    const n = lib.levelCount(osr);
    this.levels = Array.from({ length: n }, (_, i) => ({
      ...lib.levelDimensions(osr, i),
      downsample: lib.levelDownsample(osr, i),
    }));
    this.mpp = mppOf(props);
    const power = Number(props['openslide.objective-power']);
    this.objectivePower = Number.isFinite(power) && power > 0 ? power : undefined;
    this.associatedImages = lib.associatedImageNames(osr);
  }

  static open(path: string): OpenSlideSlide {
    const lib = loadOpenSlide();
    const osr = lib.open(path);
    if (!osr) throw new SlideOpenError(path, 'OpenSlide does not recognise the format');
    const error = lib.getError(osr);
    if (error) {
      lib.close(osr);
      throw new SlideOpenError(path, `OpenSlide: ${error}`);
    }
    const slide = new OpenSlideSlide(path, lib, osr);
    if (slide.levels.length === 0 || slide.levels[0].width <= 0 || slide.levels[0].height <= 0) {
      lib.close(osr);
      throw new SlideOpenError(path, 'OpenSlide reports no pixels (no levels or an empty level 0)');
    }
    return slide;
  }

  /** From OpenSlide's per-level tile properties. */
  tileSize(level: number): { width: number; height: number } | undefined {
    const w = Number(this.properties[`openslide.level[${level}].tile-width`]);
    const h = Number(this.properties[`openslide.level[${level}].tile-height`]);
    return w > 0 && h > 0 ? { width: w, height: h } : undefined;
  }

  /** RGB in a buffer of its own; OpenSlide's ARGB goes through a reused buffer, so a read leaves one allocation. */
  async readRegion(level: number, x: number, y: number, w: number, h: number): Promise<Buffer> {
    this.checkRegion(level, w, h);
    const argb = this.pool.take(w * h * 4);
    try {
      await this.readArgb(argb, level, x, y, w, h);
      return premultipliedArgbToRgb(argb, w * h);
    } finally {
      this.pool.give(argb);
    }
  }

  /**
   * Decoded into a pooled ARGB buffer and converted there in place: the RGB is a view of its first w*h*3 bytes.
   * Where `options.bgrx` accepts it and every pixel is opaque, the words are handed over as they are ('bgrx').
   */
  async readRegionPooled(
    level: number,
    x: number,
    y: number,
    w: number,
    h: number,
    options: RegionReadOptions = {},
  ): Promise<PooledPixels> {
    this.checkRegion(level, w, h);
    const argb = this.pool.take(w * h * 4);
    let opaque: boolean;
    try {
      opaque = await this.readArgb(argb, level, x, y, w, h);
    } catch (err) {
      this.pool.give(argb);
      throw err;
    }
    const bgrx = options.bgrx === true && (opaque || isOpaqueBgrx(argb, w * h));
    const data = bgrx ? argb : premultipliedArgbToRgb(argb, w * h, argb).subarray(0, w * h * 3);
    let released = false;
    const release = () => {
      if (released) throw new Error('readRegionPooled: released twice');
      released = true;
      this.pool.give(argb);
    };
    return { data, layout: bgrx ? 'bgrx' : 'rgb', release };
  }

  private checkRegion(level: number, w: number, h: number): void {
    this.checkOpen();
    if (!(level >= 0 && level < this.levels.length))
      throw new RangeError(`level ${level} out of range 0..${this.levels.length - 1}`);
    if (!(w > 0 && h > 0)) throw new RangeError(`region size ${w}x${h} must be positive`);
  }

  /** Resolves true when the pixels are known to be opaque (JPEG tiles decoded directly), else false. */
  private async readArgb(argb: Buffer, level: number, x: number, y: number, w: number, h: number): Promise<boolean> {
    // once OpenSlide has failed, the handle fails every read: so does this slide, whichever reader would read it
    const direct = level === 0 && !this.lib.getError(this.osr) ? await this.openDirectLevel0() : undefined;
    if (direct?.covers(x, y, w, h) && (await this.tracked(direct.read(argb, x, y, w, h)))) return true;
    await this.tracked(this.lib.readRegionAsync(this.osr, argb, x, y, level, w, h));
    // After a decoding failure OpenSlide leaves the handle in an error state and the pixels undefined.
    const error = this.lib.getError(this.osr);
    if (error)
      throw new SlideReadError(this.path, `region level ${level} (${x},${y}) ${w}x${h}`, `OpenSlide: ${error}`);
    return false;
  }

  /** A read, counted in flight until it settles (close() waits for those). */
  private async tracked<T>(read: Promise<T>): Promise<T> {
    this.inFlight.add(read);
    try {
      return await read;
    } finally {
      this.inFlight.delete(read);
    }
  }

  /**
   * The direct reader of level 0, when the vendor, the library, the level and the environment allow it.
   */
  private openDirectLevel0(): Promise<JpegTileLevel | undefined> {
    if (this.directLevel0) return this.directLevel0;
    const jpeg = turboJpeg();
    const tile = this.tileSize(0);
    const allowed = DIRECT_TILE_VENDORS.has(this.vendor) && this.directTilesAllowed;
    this.directLevel0 =
      allowed && jpeg && tile
        ? JpegTileLevel.open(
            this.path,
            { ...this.levels[0], tileWidth: tile.width, tileHeight: tile.height },
            jpeg,
          ).catch(() => undefined)
        : Promise.resolve(undefined);
    return this.directLevel0;
  }

  overviewStrips(downsample: number, options: StreamOptions = {}): OverviewStrips {
    return streamOverviewStrips(this, downsample, options);
  }

  overview(downsample: number): Promise<Overview> {
    return streamOverview(this, downsample);
  }

  async readAssociatedImage(name: string): Promise<RgbImage> {
    this.checkOpen();
    if (!this.associatedImages.includes(name)) {
      throw new RangeError(
        `no associated image '${name}' in ${this.path} (has: ${this.associatedImages.join(', ') || 'none'})`,
      );
    }
    const { width, height } = this.lib.associatedImageDimensions(this.osr, name);
    const argb = Buffer.allocUnsafe(width * height * 4);
    this.lib.readAssociatedImage(this.osr, name, argb);
    const error = this.lib.getError(this.osr);
    if (error) throw new SlideReadError(this.path, `associated image '${name}'`, `OpenSlide: ${error}`);
    return { width, height, data: premultipliedArgbToRgb(argb, width * height) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await (await this.directLevel0)?.close();
    this.lib.close(this.osr);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`slide ${this.path} is closed`);
  }
}

/**
 * Micrometres per pixel: OpenSlide's own mpp, else the TIFF resolution tags (OpenSlide 3.4 leaves generic
 * TIFFs without mpp even when the scanner wrote XResolution in centimetres).
 */
function mppOf(props: Record<string, string>): { x: number; y: number } | undefined {
  const x = Number(props['openslide.mpp-x']);
  const y = Number(props['openslide.mpp-y']);
  if (x > 0 && y > 0) return { x, y };
  const unit = props['tiff.ResolutionUnit'];
  const rx = Number(props['tiff.XResolution']);
  const ry = Number(props['tiff.YResolution']);
  const umPerUnit = unit === 'centimeter' ? 1e4 : unit === 'inch' ? 25400 : undefined;
  if (umPerUnit && rx > 0 && ry > 0) return plausibleMpp(umPerUnit / rx, umPerUnit / ry);
  return undefined;
}
