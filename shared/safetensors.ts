/**
 * safetensors: 8-byte LE header length, a JSON header ({name: {dtype, shape, data_offsets}}, "__metadata__":
 * string map), then the raw little-endian tensor bytes. Used for per-slide embeddings and histograms.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import * as z from 'zod';
import { writeFileAtomic } from './pfs.js';

export type DType = 'F32' | 'F64' | 'I32' | 'I64';
type Typed<D extends DType> = D extends 'F32'
  ? Float32Array
  : D extends 'F64'
    ? Float64Array
    : D extends 'I32'
      ? Int32Array
      : BigInt64Array;
export type AnyTensorData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface Tensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: Typed<D>;
}

const BYTES: Record<DType, number> = { F32: 4, F64: 8, I32: 4, I64: 8 };

export function writeSafetensors(
  path: string,
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`tensor '${name}': shape [${t.shape}] holds ${count} values but data has ${t.data.length}`);
    }
    const size = count * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.allocUnsafe(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let pos = 8 + json.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  writeFileAtomic(path, out);
}

/** One tensor's entry in the JSON header. The dtype is any string here; readers say which ones they take. */
export const HeaderEntrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});
export type HeaderEntry = z.infer<typeof HeaderEntrySchema>;

export interface SafetensorsHeader {
  tensors: Record<string, HeaderEntry>;
  metadata: Record<string, string>;
  /** Length of the JSON header; the tensor bytes start at 8 + headerBytes. */
  headerBytes: number;
}

const MetadataSchema = z.record(z.string(), z.string());
/** A header longer than this is not one we wrote (ours are a few KiB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** The header's JSON, checked: every tensor entry and the string metadata. */
function parseHeader(path: string, json: Buffer): Omit<SafetensorsHeader, 'headerBytes'> {
  let header: unknown;
  try {
    header = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw new Error(`${path}: the safetensors header is not JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new Error(`${path}: the safetensors header is not a JSON object`);
  const tensors: Record<string, HeaderEntry> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    const parsed = (name === '__metadata__' ? MetadataSchema : HeaderEntrySchema).safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${path}: safetensors header entry '${name}': ${[...issue.path].join('.') || '(entry)'}: ${issue.message}`,
      );
    }
    if (name === '__metadata__') metadata = parsed.data as Record<string, string>;
    else tensors[name] = parsed.data as HeaderEntry;
  }
  return { tensors, metadata };
}

/** Read only the header (tensor shapes and metadata), never the tensor bytes. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${path}: not a safetensors file (shorter than 8 bytes)`);
    const len = Number(lenBuf.readBigUInt64LE(0));
    const size = statSync(path).size;
    if (len > size - 8 || len > MAX_HEADER_BYTES)
      throw new Error(`${path}: header length ${len} does not fit the file (${size} bytes)`);
    const json = Buffer.alloc(len);
    readSync(fd, json, 0, len, 8);
    return { ...parseHeader(path, json), headerBytes: len };
  } finally {
    closeSync(fd);
  }
}

/** Read a whole file: every tensor copied out into its typed array. */
export function readSafetensors(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const buf = readFileSync(path);
  if (buf.length < 8) throw new Error(`${path}: not a safetensors file (${buf.length} bytes)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (8 + headerLen > buf.length) throw new Error(`${path}: header length ${headerLen} exceeds the file size`);
  const header = parseHeader(path, buf.subarray(8, 8 + headerLen));
  const base = 8 + headerLen;
  const tensors: Record<string, Tensor> = {};
  for (const [name, info] of Object.entries(header.tensors)) {
    const dtype = info.dtype as DType;
    if (!(dtype in BYTES)) throw new Error(`${path}: tensor '${name}' has unsupported dtype ${dtype}`);
    const [begin, end] = info.data_offsets;
    if (base + end > buf.length || begin > end) throw new Error(`${path}: tensor '${name}' lies outside the file`);
    // Copy into an aligned buffer: the file offset may not be a multiple of the element size.
    const bytes = new Uint8Array(buf.subarray(base + begin, base + end));
    const ab = bytes.buffer;
    const data =
      dtype === 'F32'
        ? new Float32Array(ab)
        : dtype === 'F64'
          ? new Float64Array(ab)
          : dtype === 'I32'
            ? new Int32Array(ab)
            : new BigInt64Array(ab);
    tensors[name] = { dtype, shape: info.shape, data } as Tensor;
  }
  return { tensors, metadata: header.metadata };
}
