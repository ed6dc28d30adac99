/**
 * tf.train.Example codec. Encoding writes the protobuf wire format directly (packed floats are one memcpy,
 * about 8x faster than building per-element protobufjs objects for 1000 x 1280 floats); decoding goes through
 * protobufjs with TensorFlow's example.proto / feature.proto field numbers, an independent path.
 *
 *   Example  { Features features = 1; }
 *   Features { map<string, Feature> feature = 1; }        // entries: { string key = 1; Feature value = 2; }
 *   Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 *   BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
 *   Int64List { repeated int64 value = 1 [packed]; }
 */
import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';

export type Feature =
  | { bytes: (Buffer | Uint8Array | string)[] }
  | { float: Float32Array | number[] }
  | { int64: (number | bigint)[] | BigInt64Array };
export type Features = Record<string, Feature>;

// ---- encoding ---------------------------------------------------------------------------------------------

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Wire form of an int64: non-negative safe integers as plain varints, anything else as 64-bit two's complement. */
function int64Varint(v: number | bigint): number | bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`int64 feature value must be an integer, got ${v}`);
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return v;
    v = BigInt(v);
  }
  return BigInt.asUintN(64, v);
}

function bigVarintSize(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

class Out {
  /** bytes written, those of spliced items included */
  pos = 0;
  /** position in `buf` */
  private at = 0;
  /** start in `buf` of the piece not yet in `parts` */
  private from = 0;
  private readonly parts: Uint8Array[] = [];
  /** `spliceFrom`: byte items at least this long are not copied but left in place, between pieces of `buf` */
  constructor(
    readonly buf: Buffer,
    private readonly spliceFrom = Number.POSITIVE_INFINITY,
  ) {}
  /** The message: pieces of `buf` with the spliced items between them, in order. */
  pieces(): Uint8Array[] {
    return [...this.parts, this.buf.subarray(this.from, this.at)].filter((p) => p.byteLength > 0);
  }
  varint(v: number): void {
    const start = this.at;
    while (v >= 0x80) {
      this.buf[this.at++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.at++] = v;
    this.pos += this.at - start;
  }
  bigVarint(v: bigint): void {
    const start = this.at;
    while (v >= 0x80n) {
      this.buf[this.at++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.at++] = Number(v);
    this.pos += this.at - start;
  }
  /** `item`: a bytes value (one that may be spliced), not a part of the message's own framing */
  bytes(b: Uint8Array, item = false): void {
    this.pos += b.byteLength;
    if (item && b.byteLength >= this.spliceFrom) {
      this.parts.push(this.buf.subarray(this.from, this.at), b);
      this.from = this.at;
      return;
    }
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }
}

interface Planned {
  key: Buffer;
  kind: 1 | 2 | 3;
  /** Serialized size of the inner list message. */
  listSize: number;
  /** Serialized size of the Feature message. */
  featureSize: number;
  /** Serialized size of the map entry. */
  entrySize: number;
  items: Buffer[] | Float32Array | (number | bigint)[];
  packedSize: number;
}

function plan(key: string, feature: Feature): Planned {
  const keyBuf = Buffer.from(key, 'utf8');
  let kind: 1 | 2 | 3;
  let listSize = 0;
  let packedSize = 0;
  let items: Planned['items'];
  if ('bytes' in feature) {
    kind = 1;
    const bufs = feature.bytes.map((b) =>
      typeof b === 'string'
        ? Buffer.from(b, 'utf8')
        : Buffer.isBuffer(b)
          ? b
          : Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    );
    for (const b of bufs) listSize += 1 + varintSize(b.length) + b.length;
    items = bufs;
  } else if ('float' in feature) {
    kind = 2;
    const f = feature.float instanceof Float32Array ? feature.float : Float32Array.from(feature.float);
    packedSize = f.length * 4;
    listSize = f.length ? 1 + varintSize(packedSize) + packedSize : 0;
    items = f;
  } else if ('int64' in feature) {
    kind = 3;
    const wire = Array.from(feature.int64 as ArrayLike<number | bigint>, int64Varint);
    for (const v of wire) packedSize += typeof v === 'bigint' ? bigVarintSize(v) : varintSize(v);
    listSize = wire.length ? 1 + varintSize(packedSize) + packedSize : 0;
    items = wire;
  } else {
    throw new TypeError(`feature '${key}' must have one of bytes, float, int64`);
  }
  const featureSize = 1 + varintSize(listSize) + listSize;
  const entrySize = 1 + varintSize(keyBuf.length) + keyBuf.length + 1 + varintSize(featureSize) + featureSize;
  return { key: keyBuf, kind, listSize, featureSize, entrySize, items, packedSize };
}

/** Serialize a tf.train.Example. Keys are written in sorted order so equal inputs give equal bytes. */
export function encodeExample(features: Features): Buffer {
  return encode(features, Number.POSITIVE_INFINITY).buf;
}

/**
 * The same bytes as encodeExample, as pieces to write one after another: byte values of at least `spliceFrom`
 * bytes (a tile's image) are pieces of their own, not copied into the message (a copy of each tile into new
 * memory, for a message that is written and dropped).
 */
export function encodeExamplePieces(features: Features, spliceFrom = 64 << 10): Uint8Array[] {
  return encode(features, spliceFrom).pieces();
}

function encode(features: Features, spliceFrom: number): Out {
  const planned = Object.keys(features)
    .sort()
    .map((k) => plan(k, features[k]));
  let featuresSize = 0;
  let spliced = 0;
  for (const p of planned) {
    featuresSize += 1 + varintSize(p.entrySize) + p.entrySize;
    if (p.kind === 1) for (const b of p.items as Buffer[]) if (b.length >= spliceFrom) spliced += b.length;
  }
  const total = 1 + varintSize(featuresSize) + featuresSize;
  const out = new Out(Buffer.allocUnsafe(total - spliced), spliceFrom);
  out.varint((1 << 3) | 2); // Example.features
  out.varint(featuresSize);
  for (const p of planned) {
    out.varint((1 << 3) | 2); // Features.feature (map entry)
    out.varint(p.entrySize);
    out.varint((1 << 3) | 2); // entry.key
    out.varint(p.key.length);
    out.bytes(p.key);
    out.varint((2 << 3) | 2); // entry.value
    out.varint(p.featureSize);
    out.varint((p.kind << 3) | 2); // Feature.{bytes,float,int64}_list
    out.varint(p.listSize);
    if (p.kind === 1) {
      for (const b of p.items as Buffer[]) {
        out.varint((1 << 3) | 2);
        out.varint(b.length);
        out.bytes(b, true);
      }
    } else if (p.packedSize > 0 || (p.items as ArrayLike<unknown>).length > 0) {
      out.varint((1 << 3) | 2); // packed value
      out.varint(p.packedSize);
      if (p.kind === 2) {
        const f = p.items as Float32Array;
        // Little-endian float32s, as protobuf requires; copy bytes directly.
        out.bytes(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
      } else {
        for (const v of p.items as (number | bigint)[]) typeof v === 'bigint' ? out.bigVarint(v) : out.varint(v);
      }
    }
  }
  if (out.pos !== total) throw new Error(`internal: Example size mismatch ${out.pos} != ${total}`);
  return out;
}

// ---- decoding (protobufjs, TensorFlow's field numbers) ----------------------------------------------------

// Map fields need `keyType`, which protobufjs's IField typing leaves out.
const exampleProto = {
  nested: {
    tensorflow: {
      nested: {
        BytesList: { fields: { value: { rule: 'repeated', type: 'bytes', id: 1 } } },
        FloatList: { fields: { value: { rule: 'repeated', type: 'float', id: 1, options: { packed: true } } } },
        Int64List: { fields: { value: { rule: 'repeated', type: 'int64', id: 1, options: { packed: true } } } },
        Feature: {
          oneofs: { kind: { oneof: ['bytesList', 'floatList', 'int64List'] } },
          fields: {
            bytesList: { type: 'BytesList', id: 1 },
            floatList: { type: 'FloatList', id: 2 },
            int64List: { type: 'Int64List', id: 3 },
          },
        },
        Features: { fields: { feature: { keyType: 'string', type: 'Feature', id: 1 } } },
        Example: { fields: { features: { type: 'Features', id: 1 } } },
      },
    },
  },
};
let exampleMessage: protobuf.Type | undefined;

/**
 * tf.train.Example as a protobufjs type, made on the first decode: loading protobufjs costs ~80 ms of CPU, which
 * a stage that only writes Examples (tile-extract) no longer pays at its start.
 */
export function exampleType(): protobuf.Type {
  if (!exampleMessage) {
    const pb = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
    exampleMessage = pb.Root.fromJSON(exampleProto as unknown as protobuf.INamespace).lookupType('tensorflow.Example');
  }
  return exampleMessage;
}

export interface DecodedFeatures {
  [key: string]: { bytes: Buffer[] } | { float: Float32Array } | { int64: bigint[] };
}

/**
 * Parse a serialized tf.train.Example. int64 values come back as bigint. Bytes values are views into `buf`, not
 * copies (a tile's image is most of its record): they stay valid as long as `buf` is left unchanged.
 */
export function decodeExample(buf: Uint8Array): DecodedFeatures {
  const msg = exampleType().decode(buf) as unknown as {
    features?: {
      feature?: Record<
        string,
        {
          bytesList?: { value: Uint8Array[] };
          floatList?: { value: number[] };
          int64List?: { value: (number | protobuf.Long)[] };
        }
      >;
    };
  };
  const out: DecodedFeatures = {};
  for (const [key, f] of Object.entries(msg.features?.feature ?? {})) {
    if (f.bytesList) out[key] = { bytes: f.bytesList.value.map(bufferView) };
    else if (f.floatList) out[key] = { float: Float32Array.from(f.floatList.value) };
    else if (f.int64List) out[key] = { int64: f.int64List.value.map(longToBigInt) };
    else out[key] = { bytes: [] };
  }
  return out;
}

/** protobufjs hands out Buffer views for a Buffer input and Uint8Array views for any other. */
function bufferView(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function longToBigInt(v: number | protobuf.Long): bigint {
  if (typeof v === 'number') return BigInt(v);
  return BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
}

/** Typed accessors for decoded features, with errors that name the missing key. */
export function bytesFeature(f: DecodedFeatures, key: string): Buffer[] {
  const v = f[key];
  if (!v || !('bytes' in v)) throw new Error(`Example has no bytes feature '${key}'`);
  return v.bytes;
}
export function int64Feature(f: DecodedFeatures, key: string): bigint[] {
  const v = f[key];
  if (!v || !('int64' in v)) throw new Error(`Example has no int64 feature '${key}'`);
  return v.int64;
}
export function floatFeature(f: DecodedFeatures, key: string): Float32Array {
  const v = f[key];
  if (!v || !('float' in v)) throw new Error(`Example has no float feature '${key}'`);
  return v.float;
}
