/**
 * A Slide read by libvips through sharp, for what OpenSlide cannot open: plain or OME TIFF (page or SubIFD
 * pyramids), big JPEG/PNG. Pyramid levels are chosen explicitly (`page`/`subifd`); a resize of level 0 would decode
 * the whole slide. libvips streams a resize, so an overview of a slide without pyramid never holds it whole.
 */
import type { Metadata, Sharp } from 'sharp';
import { loadSharp, type SharpFn } from '../sharp.js';
import { cutOverview } from './cut-overview.js';
import { overviewGeometry } from './levels.js';
import { streamOverviewStrips } from './overview.js';
import { plausibleMpp } from './pixels.js';
import {
  SlideOpenError,
  SlideReadError,
  type Overview,
  type OverviewStrips,
  type PooledPixels,
  type RgbImage,
  type Slide,
  type SlideLevel,
  type StreamOptions,
} from './types.js';

interface VipsLevel extends SlideLevel {
  page: number;
  subifd?: number;
}

/** Pages a level may be: same aspect ratio as level 0 (within 2%) and smaller than the level before. */
function isNextLevel(prev: SlideLevel, base: SlideLevel, w: number, h: number): boolean {
  const aspect = base.width / base.height / (w / h);
  return w < prev.width && h < prev.height && Math.abs(aspect - 1) < 0.02;
}

export class VipsSlide implements Slide {
  readonly reader = 'libvips' as const;
  readonly objectivePower = undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    readonly path: string,
    readonly vendor: string,
    readonly levels: readonly VipsLevel[],
    private readonly associated: ReadonlyMap<string, number>,
    readonly mpp: { x: number; y: number } | undefined,
    readonly properties: Readonly<Record<string, string>>,
    private readonly sharp: SharpFn,
  ) {}

  get associatedImages(): readonly string[] {
    return [...this.associated.keys()];
  }

  static async open(path: string): Promise<VipsSlide> {
    const sharp = await loadSharp();
    let meta: Metadata;
    try {
      meta = await sharp(path, { limitInputPixels: false }).metadata();
    } catch (err) {
      throw new SlideOpenError(path, `libvips: ${(err as Error).message}`);
    }
    if (!meta.width || !meta.height) throw new SlideOpenError(path, 'libvips: no image size in the file');
    const base: VipsLevel = { width: meta.width, height: meta.height, downsample: 1, page: 0 };
    const levels: VipsLevel[] = [base];
    const associated = new Map<string, number>();
    const level = (w: number, h: number, page: number, subifd?: number): VipsLevel => ({
      width: w,
      height: h,
      downsample: (base.width / w + base.height / h) / 2,
      page,
      subifd,
    });
    if (meta.subifds && meta.subifds > 0) {
      // OME-TIFF style: the pyramid of page 0 is in its SubIFDs.
      for (let s = 0; s < meta.subifds; s++) {
        const m = await sharp(path, { limitInputPixels: false, subifd: s }).metadata();
        if (m.width && m.height && isNextLevel(levels[levels.length - 1], base, m.width, m.height))
          levels.push(level(m.width, m.height, 0, s));
      }
    }
    const pages = meta.pages ?? 1;
    // Page pyramid: consecutive pages after page 0 that shrink with its aspect ratio; later pages (label,
    // macro) are associated images.
    let inPyramid = !meta.subifds;
    for (let p = 1; p < pages; p++) {
      const m = await sharp(path, { limitInputPixels: false, page: p }).metadata();
      if (!m.width || !m.height) continue;
      if (inPyramid && isNextLevel(levels[levels.length - 1], base, m.width, m.height)) {
        levels.push(level(m.width, m.height, p));
      } else {
        inPyramid = false;
        associated.set(`page-${p}`, p);
      }
    }
    const vendor = meta.format === 'tiff' && meta.subifds ? 'ome-tiff' : String(meta.format ?? 'unknown');
    // sharp reports density in pixels per inch whatever the file's unit.
    const mpp = meta.density ? plausibleMpp(25400 / meta.density, 25400 / meta.density) : undefined;
    const properties: Record<string, string> = {
      'vips.format': String(meta.format),
      'vips.pages': String(pages),
      'vips.channels': String(meta.channels ?? ''),
      'vips.space': String(meta.space ?? ''),
    };
    if (meta.density) properties['vips.density-ppi'] = String(meta.density);
    levels.forEach((l, i) => {
      properties[`vips.level[${i}].page`] = String(l.page);
      if (l.subifd !== undefined) properties[`vips.level[${i}].subifd`] = String(l.subifd);
    });
    return new VipsSlide(path, vendor, levels, associated, mpp, properties, sharp);
  }

  private input(level: VipsLevel): Sharp {
    return this.sharp(this.path, {
      limitInputPixels: false,
      page: level.page,
      ...(level.subifd !== undefined ? { subifd: level.subifd } : {}),
    });
  }

  /** libvips (through sharp) does not report a TIFF's tile size: blocks are then laid on a 256 px grid. */
  tileSize(): undefined {
    return undefined;
  }

  /** libvips hands over a buffer of its own per read: nothing to give back. */
  async readRegionPooled(level: number, x: number, y: number, w: number, h: number): Promise<PooledPixels> {
    return { data: await this.readRegion(level, x, y, w, h), layout: 'rgb', release: () => {} };
  }

  async readRegion(levelIndex: number, x: number, y: number, w: number, h: number): Promise<Buffer> {
    if (this.closed) throw new Error(`slide ${this.path} is closed`);
    const level = this.levels[levelIndex];
    if (!level) throw new RangeError(`level ${levelIndex} out of range 0..${this.levels.length - 1}`);
    if (!(w > 0 && h > 0)) throw new RangeError(`region size ${w}x${h} must be positive`);
    const lx = Math.round(x / level.downsample);
    const ly = Math.round(y / level.downsample);
    // The part inside the level; the rest stays white.
    const left = Math.max(0, lx);
    const top = Math.max(0, ly);
    const right = Math.min(level.width, lx + w);
    const bottom = Math.min(level.height, ly + h);
    if (right <= left || bottom <= top) return Buffer.alloc(w * h * 3, 255);
    const read = toRgb(this.input(level).extract({ left, top, width: right - left, height: bottom - top }));
    this.inFlight.add(read);
    let data: Buffer;
    try {
      data = await read;
    } catch (err) {
      throw new SlideReadError(
        this.path,
        `region level ${levelIndex} (${x},${y}) ${w}x${h}`,
        `libvips: ${(err as Error).message}`,
      );
    } finally {
      this.inFlight.delete(read);
    }
    // Wholly inside (the usual case): libvips' buffer is the region, no second one.
    if (left === lx && top === ly && right - left === w && bottom - top === h) return data;
    const out = Buffer.alloc(w * h * 3, 255);
    const rowBytes = (right - left) * 3;
    for (let r = 0; r < bottom - top; r++)
      data.copy(out, ((top - ly + r) * w + (left - lx)) * 3, r * rowBytes, (r + 1) * rowBytes);
    return out;
  }

  /**
   * A level used as it is is read region by region, as OpenSlide's is; a resize is libvips' own (streamed by
   * libvips), cut into strips, since only it gives the pixels `overview` gives (that one path holds the overview).
   */
  overviewStrips(downsample: number, options: StreamOptions = {}): OverviewStrips {
    const { geometry, asIs } = overviewGeometry(this.levels, downsample);
    if (asIs) return streamOverviewStrips(this, downsample, options);
    return cutOverview(geometry, this.overview(downsample), this.path);
  }

  async overview(downsample: number): Promise<Overview> {
    const { geometry, asIs } = overviewGeometry(this.levels, downsample);
    let data: Buffer;
    try {
      const input = this.input(this.levels[geometry.level]);
      const { width, height } = geometry;
      data = await toRgb(asIs ? input : input.resize(width, height, { fit: 'fill', kernel: 'linear' }));
    } catch (err) {
      const why = `libvips: ${(err as Error).message}`;
      throw new SlideReadError(this.path, `overview from level ${geometry.level}`, why);
    }
    return { ...geometry, data };
  }

  async readAssociatedImage(name: string): Promise<RgbImage> {
    const page = this.associated.get(name);
    if (page === undefined) throw new RangeError(`no associated image '${name}' in ${this.path}`);
    const { data, info } = await this.sharp(this.path, { limitInputPixels: false, page })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }
}

/** 8-bit RGB, alpha composited over white. */
async function toRgb(image: Sharp): Promise<Buffer> {
  const { data, info } = await image
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
  return data;
}
