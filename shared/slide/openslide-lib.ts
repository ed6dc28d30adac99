/**
 * The OpenSlide C API through koffi (no Node package exists). Loaded once, lazily, from the system's
 * libopenslide.so.0 (3.x, Debian's libopenslide0) or libopenslide.so.1 (4.x). `read_region` is also bound
 * asynchronously: koffi runs it on its worker threads, so several reads decode in parallel (OpenSlide handles
 * are thread-safe).
 */
import koffi from 'koffi';
import { loadFirstLibrary } from '../native-lib.js';
import { OpenSlideMissingError } from './types.js';

/** An `openslide_t *`, opaque to JavaScript. */
export type OpenSlideHandle = unknown;

export interface OpenSlideLib {
  version: string;
  detectVendor(path: string): string | null;
  open(path: string): OpenSlideHandle | null;
  getError(osr: OpenSlideHandle): string | null;
  levelCount(osr: OpenSlideHandle): number;
  levelDimensions(osr: OpenSlideHandle, level: number): { width: number; height: number };
  levelDownsample(osr: OpenSlideHandle, level: number): number;
  propertyNames(osr: OpenSlideHandle): string[];
  propertyValue(osr: OpenSlideHandle, name: string): string | null;
  associatedImageNames(osr: OpenSlideHandle): string[];
  associatedImageDimensions(osr: OpenSlideHandle, name: string): { width: number; height: number };
  /** Fills `dest` (w*h*4 bytes) with premultiplied ARGB, native-endian uint32 per pixel. */
  readAssociatedImage(osr: OpenSlideHandle, name: string, dest: Buffer): void;
  /** As openslide_read_region, on a koffi worker thread. */
  readRegionAsync(
    osr: OpenSlideHandle,
    dest: Buffer,
    x: number,
    y: number,
    level: number,
    w: number,
    h: number,
  ): Promise<void>;
  close(osr: OpenSlideHandle): void;
}

const SONAMES = [
  'libopenslide.so.1',
  'libopenslide.so.0',
  'libopenslide.dylib',
  'libopenslide-1.dll',
  'libopenslide-0.dll',
];

let cached: OpenSlideLib | undefined;

export function loadOpenSlide(): OpenSlideLib {
  if (cached) return cached;
  const { lib, failures } = loadFirstLibrary(
    process.env.TESSELLA_OPENSLIDE_LIB ? [process.env.TESSELLA_OPENSLIDE_LIB] : SONAMES,
  );
  if (!lib) throw new OpenSlideMissingError(failures.join('; '));
  cached = bind(lib);
  return cached;
}

/** A NULL-terminated `const char * const *` as a string array. */
function readStringArray(ptr: unknown): string[] {
  if (!ptr) return [];
  const out: string[] = [];
  for (let i = 0; ; i++) {
    const s = koffi.decode(ptr, i * koffi.sizeof('void *'), 'const char *') as string | null;
    if (s === null || s === undefined) break;
    out.push(s);
  }
  return out;
}

function bind(lib: koffi.IKoffiLib): OpenSlideLib {
  const fn = {
    version: lib.func('const char *openslide_get_version()'),
    detectVendor: lib.func('const char *openslide_detect_vendor(const char *filename)'),
    open: lib.func('void *openslide_open(const char *filename)'),
    getError: lib.func('const char *openslide_get_error(void *osr)'),
    levelCount: lib.func('int32_t openslide_get_level_count(void *osr)'),
    levelDimensions: lib.func(
      'void openslide_get_level_dimensions(void *osr, int32_t level, _Out_ int64_t *w, _Out_ int64_t *h)',
    ),
    levelDownsample: lib.func('double openslide_get_level_downsample(void *osr, int32_t level)'),
    propertyNames: lib.func('void *openslide_get_property_names(void *osr)'),
    propertyValue: lib.func('const char *openslide_get_property_value(void *osr, const char *name)'),
    associatedNames: lib.func('void *openslide_get_associated_image_names(void *osr)'),
    associatedDimensions: lib.func(
      'void openslide_get_associated_image_dimensions(void *osr, const char *name, _Out_ int64_t *w, _Out_ int64_t *h)',
    ),
    readAssociated: lib.func('void openslide_read_associated_image(void *osr, const char *name, void *dest)'),
    readRegion: lib.func(
      'void openslide_read_region(void *osr, void *dest, int64_t x, int64_t y, int32_t level, int64_t w, int64_t h)',
    ),
    close: lib.func('void openslide_close(void *osr)'),
  };
  const dims = (f: koffi.KoffiFunction, ...args: unknown[]) => {
    const w = [0];
    const h = [0];
    f(...args, w, h);
    return { width: Number(w[0]), height: Number(h[0]) };
  };
  return {
    version: fn.version() as string,
    detectVendor: (path) => fn.detectVendor(path) as string | null,
    open: (path) => fn.open(path) as OpenSlideHandle | null,
    getError: (osr) => fn.getError(osr) as string | null,
    levelCount: (osr) => fn.levelCount(osr) as number,
    levelDimensions: (osr, level) => dims(fn.levelDimensions, osr, level),
    levelDownsample: (osr, level) => fn.levelDownsample(osr, level) as number,
    propertyNames: (osr) => readStringArray(fn.propertyNames(osr)),
    propertyValue: (osr, name) => fn.propertyValue(osr, name) as string | null,
    associatedImageNames: (osr) => readStringArray(fn.associatedNames(osr)),
    associatedImageDimensions: (osr, name) => dims(fn.associatedDimensions, osr, name),
    readAssociatedImage: (osr, name, dest) => void fn.readAssociated(osr, name, dest),
    readRegionAsync: (osr, dest, x, y, level, w, h) =>
      new Promise<void>((resolve, reject) => {
        fn.readRegion.async(osr, dest, BigInt(x), BigInt(y), level, BigInt(w), BigInt(h), (err: unknown) =>
          err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(),
        );
      }),
    close: (osr) => void fn.close(osr),
  };
}
