/**
 * JPEG through libjpeg-turbo's TurboJPEG API (Debian's libturbojpeg0), bound with koffi as OpenSlide is. It is the
 * codec inside sharp's libvips, so the pixels are the same (test/shared/jpeg-turbo.test.ts), without libvips'
 * pipeline around each small image: on 448 px CMU-1 tiles at q95 4:4:4, decoding takes 2.5-2.9 ms of CPU against
 * sharp's 3.8-6.1, and encoding 1.6-1.8 ms against 3.2-4.2 (scripts/bench/png.ts prints both). Calls run on
 * koffi's worker threads, so tiles decode in parallel as with sharp; a TurboJPEG handle serves one call at a time,
 * so each call takes one from a pool.
 *
 * When the library is not installed, `turboJpeg()` is undefined and shared/image.ts uses sharp for everything.
 */
import type koffi from 'koffi';
import { loadFirstLibrary } from './native-lib.js';
import type { PixelLayout, RgbImage } from './slide/index.js';

const SONAMES = ['libturbojpeg.so.0', 'libturbojpeg.so', 'libturbojpeg.0.dylib', 'turbojpeg.dll'];

/** TurboJPEG's constants (turbojpeg.h, 2.x). */
const TJPF_RGB = 0;
/** B, G, R and an ignored byte: OpenSlide's opaque ARGB words on a little-endian machine. */
const TJPF_BGRX = 3;
/** B, G, R, A (255): what OpenSlide's libjpeg decode gives (JCS_EXT_BGRA), its ARGB words on a little-endian machine. */
const TJPF_BGRA = 8;
const TJPF: Record<PixelLayout, number> = { rgb: TJPF_RGB, bgrx: TJPF_BGRX };
const TJSAMP: Record<'4:4:4' | '4:2:0', number> = { '4:4:4': 0, '4:2:0': 2 };
const TJCS_RGB = 0;
const TJCS_YCbCr = 1;
const TJFLAG_NOREALLOC = 1024;
/** libjpeg's accurate integer DCT, as libvips uses: TurboJPEG encodes with the fast one otherwise (10% more error). */
const TJFLAG_ACCURATEDCT = 4096;

export interface TurboJpeg {
  /**
   * RGB pixels, or undefined for a JPEG that is not 3-component YCbCr/RGB (grey, CMYK: sharp converts those).
   * `into(bytes)` gives the buffer to decode into (one used before spares the kernel's page faults), else a new one.
   */
  decodeRgb(jpeg: Uint8Array, into?: (bytes: number) => Buffer): Promise<RgbImage | undefined>;
  /**
   * Decodes a JPEG of exactly `expect.width` x `expect.height` pixels, whose colour space libjpeg takes to be
   * `expect.colorSpace`, into `dest` as B, G, R, A words (A = 255), `pitch` bytes a row. Resolves false, writing
   * nothing, when the header says otherwise; rejects on a decoding error or warning.
   */
  decodeBgraInto(
    jpeg: Uint8Array,
    dest: Uint8Array,
    pitch: number,
    expect: { width: number; height: number; colorSpace: 'ycbcr' | 'rgb' },
  ): Promise<boolean>;
  encodeRgb(img: RgbImage, quality: number, chroma: '4:4:4' | '4:2:0'): Promise<Buffer>;
  /**
   * The same from pixels in `layout` (4-byte 'bgrx' as OpenSlide reads them): the same bytes as encodeRgb of their
   * RGB, since TurboJPEG's colour conversion takes either layout, and for 'bgrx' no RGB copy is made first.
   */
  encode(
    pixels: { data: Uint8Array; width: number; height: number; layout: PixelLayout },
    quality: number,
    chroma: '4:4:4' | '4:2:0',
  ): Promise<Buffer>;
}

type Fn = koffi.KoffiFunction;

interface Bound {
  initDecompress: Fn;
  initCompress: Fn;
  header: Fn;
  decompress: Fn;
  compress: Fn;
  bufSize: Fn;
  errorStr: Fn;
  destroy: Fn;
}

let loaded: TurboJpeg | null | undefined;

/** The library, loaded once; undefined when it is absent (TESSELLA_TURBOJPEG=off also says so). */
export function turboJpeg(): TurboJpeg | undefined {
  if (loaded === undefined) loaded = process.env.TESSELLA_TURBOJPEG === 'off' ? null : load();
  return loaded ?? undefined;
}

function load(): TurboJpeg | null {
  const { lib } = loadFirstLibrary(SONAMES);
  if (!lib) return null;
  const b: Bound = {
    initDecompress: lib.func('void *tjInitDecompress()'),
    initCompress: lib.func('void *tjInitCompress()'),
    header: lib.func(
      'int tjDecompressHeader3(void *h, const uint8_t *buf, unsigned long size, _Out_ int *w, _Out_ int *hh, _Out_ int *ss, _Out_ int *cs)',
    ),
    decompress: lib.func(
      'int tjDecompress2(void *h, const uint8_t *buf, unsigned long size, uint8_t *dst, int w, int pitch, int hh, int pf, int flags)',
    ),
    compress: lib.func(
      'int tjCompress2(void *h, const uint8_t *src, int w, int pitch, int hh, int pf, _Inout_ uint8_t **out, _Inout_ unsigned long *size, int ss, int q, int flags)',
    ),
    bufSize: lib.func('unsigned long tjBufSize(int w, int h, int ss)'),
    errorStr: lib.func('const char *tjGetErrorStr2(void *h)'),
    destroy: lib.func('int tjDestroy(void *h)'),
  };
  return bind(b);
}

/** Handles of one kind, each lent to one call at a time; one that saw an error is destroyed, not lent again. */
class HandlePool {
  private readonly free: unknown[] = [];
  constructor(
    private readonly make: () => unknown,
    private readonly destroy: (h: unknown) => void,
  ) {}
  async use<T>(f: (h: unknown) => Promise<T>): Promise<T> {
    const h = this.free.pop() ?? this.make();
    if (!h) throw new Error('TurboJPEG could not make a handle');
    let ok = false;
    try {
      const r = await f(h);
      ok = true;
      return r;
    } finally {
      if (ok) this.free.push(h);
      else this.destroy(h);
    }
  }
}

function call(fn: Fn, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, r: number) => (err ? reject(err) : resolve(r)));
  });
}

function bind(b: Bound): TurboJpeg {
  const destroy = (h: unknown) => void b.destroy(h);
  const decoders = new HandlePool(() => b.initDecompress(), destroy);
  const encoders = new HandlePool(() => b.initCompress(), destroy);
  const fail = (h: unknown, what: string) => new Error(`${what}: ${String(b.errorStr(h) ?? 'TurboJPEG error')}`);
  /** The JPEG's size and colour space (TJCS_*), as libjpeg reads its header. */
  const header = (h: unknown, jpeg: Uint8Array) => {
    const w = [0];
    const ht = [0];
    const ss = [0];
    const cs = [0];
    if (b.header(h, jpeg, jpeg.length, w, ht, ss, cs) !== 0) throw fail(h, 'JPEG header');
    return { width: w[0], height: ht[0], colorSpace: cs[0] };
  };
  return {
    decodeRgb: (jpeg, into) =>
      decoders.use(async (h) => {
        const { width, height, colorSpace } = header(h, jpeg);
        if (!(width > 0 && height > 0)) throw new Error(`JPEG header: no image size (${width}x${height})`);
        if (colorSpace !== TJCS_YCbCr && colorSpace !== TJCS_RGB) return undefined;
        const bytes = width * height * 3;
        const data = into ? into(bytes).subarray(0, bytes) : Buffer.allocUnsafe(bytes);
        // the accurate integer IDCT and smooth upsampling, as libvips decodes
        if (
          (await call(b.decompress, h, jpeg, jpeg.length, data, width, 0, height, TJPF_RGB, TJFLAG_ACCURATEDCT)) !== 0
        )
          throw fail(h, 'JPEG data');
        return { data, width, height };
      }),
    decodeBgraInto: (jpeg, dest, pitch, expect) =>
      decoders.use(async (h) => {
        const { width, height, colorSpace } = header(h, jpeg);
        const space = expect.colorSpace === 'ycbcr' ? TJCS_YCbCr : TJCS_RGB;
        if (width !== expect.width || height !== expect.height || colorSpace !== space) return false;
        if (dest.length < pitch * (expect.height - 1) + expect.width * 4)
          throw new RangeError(`JPEG decode: ${dest.length} bytes hold no ${expect.width}x${expect.height} BGRA image`);
        // libjpeg's defaults (the accurate integer IDCT, smooth upsampling), as OpenSlide decodes
        if ((await call(b.decompress, h, jpeg, jpeg.length, dest, width, pitch, height, TJPF_BGRA, 0)) !== 0)
          throw fail(h, 'JPEG data');
        return true;
      }),
    encodeRgb: (img, quality, chroma) => encode({ ...img, layout: 'rgb' }, quality, chroma),
    encode: (img, quality, chroma) => encode(img, quality, chroma),
  };

  async function encode(
    img: { data: Uint8Array; width: number; height: number; layout: PixelLayout },
    quality: number,
    chroma: '4:4:4' | '4:2:0',
  ): Promise<Buffer> {
    const bytesPerPixel = img.layout === 'rgb' ? 3 : 4;
    if (img.data.length < img.width * img.height * bytesPerPixel)
      throw new RangeError(
        `JPEG encode: ${img.data.length} bytes hold no ${img.width}x${img.height} ${img.layout} image`,
      );
    return encoders.use(async (h) => {
      const cap = Number(b.bufSize(img.width, img.height, TJSAMP[chroma]));
      const out = Buffer.allocUnsafe(cap);
      const size = [cap];
      const r = await call(
        b.compress,
        h,
        img.data,
        img.width,
        0,
        img.height,
        TJPF[img.layout],
        [out],
        size,
        TJSAMP[chroma],
        quality,
        TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT,
      );
      if (r !== 0) throw fail(h, 'JPEG encode');
      return withoutJfif(out.subarray(0, Number(size[0])));
    });
  }
}

/**
 * The JPEG without its JFIF APP0 segment, which TurboJPEG writes and libvips does not: without it the bytes are
 * those sharp wrote for the same pixels and settings, so tiles stay byte-identical and nothing downstream re-runs.
 */
function withoutJfif(jpeg: Buffer): Buffer {
  if (jpeg[2] !== 0xff || jpeg[3] !== 0xe0) return jpeg;
  const end = 4 + jpeg.readUInt16BE(4);
  return Buffer.concat([jpeg.subarray(0, 2), jpeg.subarray(end)]);
}
