/**
 * One interface over every slide reader (OpenSlide through koffi, libvips through sharp). Callers never juggle
 * pyramid levels themselves: `readRegion` takes level-0 coordinates as OpenSlide does, and `overview` picks the
 * level and resizes the rest of the way (TIAToolbox's `read_rect` is the model).
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
  /**
   * RGB pixels of a w x h rectangle of `level`, whose top-left corner is (x, y) in level-0 coordinates (as
   * openslide_read_region). Areas outside the slide or not scanned are white. Several calls may be in flight.
   */
  readRegion(level: number, x: number, y: number, w: number, h: number): Promise<Buffer>;
  /**
   * As readRegion, into the caller's `dest` (at least w*h*4 bytes; the reader may decode there first), returning
   * the RGB as a view of dest's start. Only readers that can decode into a given buffer have it (OpenSlide):
   * callers then reuse a few buffers over many reads instead of leaving one per read to the GC.
   */
  readRegionInto?(level: number, x: number, y: number, w: number, h: number, dest: Buffer): Promise<Buffer>;
  /**
   * The whole slide at about 1/downsample: from the level with the largest downsample <= the target (with a
   * little tolerance), resized the rest of the way by area averaging, streamed so memory stays bounded.
   */
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
