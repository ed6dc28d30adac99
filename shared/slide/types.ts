/**
 * One interface over every slide reader (OpenSlide through koffi, libvips through sharp). Callers never juggle
 * pyramid levels themselves: `readRegion` takes level-0 coordinates as OpenSlide does, and `overview` picks the
 * level (levels.ts `levelFor`) and resizes the rest of the way (TIAToolbox's `read_rect` is the model).
 */

export type ReaderName = 'openslide' | 'libvips';

export interface SlideLevel {
  width: number;
  height: number;
  /** Level-0 pixels per level pixel, as the reader reports it (scanners write e.g. 16.0012). */
  downsample: number;
}

/** Interleaved 8-bit RGB, row-major, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Buffer;
}

export interface Overview extends RgbImage {
  /** The downsample asked for. */
  downsample: number;
  /** Level-0 pixels per overview pixel along each axis (level-0 size / overview size). */
  scaleX: number;
  scaleY: number;
  /** The pyramid level it was made from, and that level's downsample. */
  level: number;
  levelDownsample: number;
}

/** An overview without its pixels: its size, scale and where it comes from. */
export type OverviewGeometry = Omit<Overview, 'data'>;

/** Overview rows [y, y + rows) as pieces side by side that cover the overview's width (a level's blocks, no copy). */
export interface OverviewStrip {
  y: number;
  rows: number;
  /** Columns [x, x + width) of those rows, RGB, `width` wide; left to right. */
  pieces: OverviewPiece[];
}

export interface OverviewPiece {
  x: number;
  width: number;
  data: Buffer;
}

export interface OverviewStrips {
  geometry: OverviewGeometry;
  /**
   * Strips top to bottom, covering every row once; iterate once. A strip's pixels are valid until the next
   * strip is asked for (their buffers are then reused): copy what must outlive that.
   */
  strips: AsyncIterable<OverviewStrip>;
}

export interface StreamOptions {
  /** Blocks read at once. */
  inFlight?: number;
  /** About how many level pixels one block holds (default BLOCK_PIXELS). */
  blockPixels?: number;
  /** Blocks read ahead of the strip being assembled (bounds memory; default 2 x inFlight). */
  readAhead?: number;
}

/**
 * How a region's pixels lie in its buffer: 'rgb', 3 bytes a pixel; 'bgrx', 4 bytes a pixel (blue, green, red, then a
 * byte to ignore), every pixel opaque: OpenSlide's own words on a little-endian machine, which a JPEG encoder takes as
 * they are, so the conversion to RGB (about 1 ms of the main thread per 448 px tile) is not needed.
 */
export type PixelLayout = 'rgb' | 'bgrx';

export interface RegionReadOptions {
  /** Accept layout 'bgrx' where the reader has it (an OpenSlide read whose pixels are all opaque). */
  bgrx?: boolean;
}

/** Pixels in a buffer lent by the reader: call `release` once done with `data` (and never touch it after). */
export interface PooledPixels {
  data: Buffer;
  /** 'rgb' unless the read accepted 'bgrx' and the reader gave it. */
  layout: PixelLayout;
  release(): void;
}

/**
 * Every reader answers every call the same way, so callers never branch on the reader (TIAToolbox's lesson): the
 * level and the pooling are the reader's business.
 */
export interface Slide {
  readonly path: string;
  readonly reader: ReaderName;
  /** OpenSlide's vendor ('aperio', 'hamamatsu', 'generic-tiff', ...) or libvips' format ('tiff', 'ome-tiff', 'jpeg', 'png'). */
  readonly vendor: string;
  /** Level 0 first; downsamples increase. */
  readonly levels: readonly SlideLevel[];
  /** Micrometres per level-0 pixel, when the file says. */
  readonly mpp: { x: number; y: number } | undefined;
  readonly objectivePower: number | undefined;
  readonly properties: Readonly<Record<string, string>>;
  /** Names of associated images (label, macro, thumbnail, ...). */
  readonly associatedImages: readonly string[];
  readAssociatedImage(name: string): Promise<RgbImage>;
  /** The stored tile size of a level, when the reader knows it (reads aligned to it decode each tile once). */
  tileSize(level: number): { width: number; height: number } | undefined;
  /**
   * RGB pixels of a w x h rectangle of `level`, whose top-left corner is (x, y) in level-0 coordinates (as
   * openslide_read_region), in a buffer of its own. Areas outside the slide or not scanned are white. Several
   * calls may be in flight.
   */
  readRegion(level: number, x: number, y: number, w: number, h: number): Promise<Buffer>;
  /**
   * As readRegion, the pixels in a buffer the reader lends and takes back on `release`: a stream of many reads
   * then reuses as many buffers as it holds at once instead of leaving one per read to the GC. RGB, unless
   * `options` accept another layout and the reader has the pixels in it.
   */
  readRegionPooled(
    level: number,
    x: number,
    y: number,
    w: number,
    h: number,
    options?: RegionReadOptions,
  ): Promise<PooledPixels>;
  /**
   * The whole slide at about 1/downsample (levelFor's level, resized the rest of the way), as strips of rows
   * top to bottom, so a caller that consumes them as they come never holds the overview.
   */
  overviewStrips(downsample: number, options?: StreamOptions): OverviewStrips;
  /** The same overview in one image (the strips gathered). */
  overview(downsample: number): Promise<Overview>;
  /** Waits for reads in flight, then frees the reader. */
  close(): Promise<void>;
}

/** The slide cannot be opened (unsupported, corrupt, missing): bad input, reported as error.json. */
export class SlideOpenError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`cannot open slide ${path}: ${why}`);
    this.name = 'SlideOpenError';
  }
}

/** Pixels of an opened slide cannot be decoded: bad input, reported as error.json naming where. */
export class SlideReadError extends Error {
  constructor(
    readonly path: string,
    readonly where: string,
    readonly why: string,
  ) {
    super(`cannot read ${where} of slide ${path}: ${why}`);
    this.name = 'SlideReadError';
  }
}

/** The OpenSlide C library is not installed: an environment problem, not bad input (the datum fails). */
export class OpenSlideMissingError extends Error {
  constructor(detail: string) {
    super(
      `the OpenSlide library (libopenslide.so.0 or libopenslide.so.1) cannot be loaded: ${detail}. ` +
        `Install the Debian/Ubuntu package libopenslide0 (apt-get install libopenslide0), or run scripts/setup.`,
    );
    this.name = 'OpenSlideMissingError';
  }
}
