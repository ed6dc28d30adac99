/**
 * The few parts of the WebAssembly binary format that the project's hand-written kernels need: i32 functions over
 * one imported memory (shared, or one thread's), i32 globals, exports, and a few 128-bit SIMD instructions (v128
 * values on the stack only, no v128 locals). A kernel's body is written with `wasm`'s nested expressions;
 * `wasmModule` lays it out as a module's bytes (the format: webassembly.github.io/spec/core/binary). Written here so that no
 * compiler or toolchain is needed to build or install the project.
 */

/** The value type i32, the only one the kernels use. */
const I32 = 0x7f;

/** A WebAssembly memory's page, in bytes. */
export const WASM_PAGE = 65536;

/** The pages of a memory that holds `bytes`. */
export const pagesFor = (bytes: number): number => Math.ceil(bytes / WASM_PAGE);

/** An unsigned LEB128 integer. */
export function uleb(n: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`uleb: ${n} is not an unsigned integer`);
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/** A signed LEB128 integer (an i32 constant). */
export function sleb(n: number): number[] {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) throw new Error(`sleb: ${n} is not an i32`);
  let v = n | 0;
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(byte & 0x40)) || (v === -1 && byte & 0x40)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
};
/** A memory access's immediates: log2 of its alignment, and its constant offset. */
const memarg = (align: number, offset: number) => [...uleb(align), ...uleb(offset)];

/** The instructions the kernels use (i32 only), in the binary's stack order. Blocks, loops and ifs have no result. */
const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  globalSet: (i: number) => [0x24, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Add: 0x6a,
  i32Load: (offset: number) => [0x28, ...memarg(2, offset)],
  i32Load8U: (offset: number) => [0x2d, ...memarg(0, offset)],
  i32Store: (offset: number) => [0x36, ...memarg(2, offset)],
  i32Store8: (offset: number) => [0x3a, ...memarg(0, offset)],
  i32AtomicCmpxchg: (offset: number) => [0xfe, 0x48, ...memarg(2, offset)],
  // SIMD (prefix 0xfd, then the opcode as an unsigned LEB128); memory accesses declare byte alignment, any address
  v128Load: (offset: number) => [0xfd, ...uleb(0x00), ...memarg(0, offset)],
  v128Store: (offset: number) => [0xfd, ...uleb(0x0b), ...memarg(0, offset)],
  i8x16Shuffle: (lanes: number[]) => [0xfd, ...uleb(0x0d), ...lanes],
  i16x8ExtaddPairwiseI8x16U: [0xfd, ...uleb(0x7d)],
  i16x8Add: [0xfd, ...uleb(0x8e)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  else: [0x05],
  end: [0x0b],
};

/** Code: an instruction sequence. */
export type Code = number[];
const binary =
  (opcode: number) =>
  (a: Code, b: Code): Code => [...a, ...b, opcode];

/**
 * The instructions as nested expressions (the text format's folded form): `add(get(x), i32(3))` is x + 3. Each
 * returns its bytes in the order the stack machine runs them.
 */
export const wasm = {
  get: (local: number): Code => op.localGet(local),
  set: (local: number, value: Code): Code => [...value, ...op.localSet(local)],
  /** local += n (an i32 constant) */
  increment: (local: number, n: number): Code => [
    ...op.localGet(local),
    ...op.i32Const(n),
    op.i32Add,
    ...op.localSet(local),
  ],
  /** sets the local and leaves the value */
  tee: (local: number, value: Code): Code => [...value, ...op.localTee(local)],
  setGlobal: (global: number, value: Code): Code => [...value, ...op.globalSet(global)],
  i32: (n: number): Code => op.i32Const(n),
  add: binary(op.i32Add),
  sub: binary(0x6b),
  mul: binary(0x6c),
  and: binary(0x71),
  or: binary(0x72),
  shl: binary(0x74),
  shrU: binary(0x76),
  ltU: binary(0x49),
  geU: binary(0x4f),
  eqz: (a: Code): Code => [...a, 0x45],
  /** the i32 at address + offset (aligned) */
  load: (address: Code, offset = 0): Code => [...address, ...op.i32Load(offset)],
  load8U: (address: Code, offset = 0): Code => [...address, ...op.i32Load8U(offset)],
  store: (address: Code, value: Code, offset = 0): Code => [...address, ...value, ...op.i32Store(offset)],
  /** the value's low byte */
  store8: (address: Code, value: Code, offset = 0): Code => [...address, ...value, ...op.i32Store8(offset)],
  /** compare-and-swap of an aligned i32 (shared memory): the old value; `replacement` stored when it was `expected` */
  cmpxchg: (address: Code, expected: Code, replacement: Code): Code => [
    ...address,
    ...expected,
    ...replacement,
    ...op.i32AtomicCmpxchg(0),
  ],
  /** 16 bytes at address + offset, as a v128 */
  v128Load: (address: Code, offset = 0): Code => [...address, ...op.v128Load(offset)],
  v128Store: (address: Code, value: Code, offset = 0): Code => [...address, ...value, ...op.v128Store(offset)],
  /** 16 bytes picked from a's and b's 32 by `lanes` (0-15 from a, 16-31 from b) */
  shuffle: (a: Code, b: Code, lanes: number[]): Code => {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31))
      throw new Error(`shuffle: expected 16 lane indices in 0-31, got [${lanes.join(', ')}]`);
    return [...a, ...b, ...op.i8x16Shuffle(lanes)];
  },
  /** each pair of adjacent bytes' sum, unsigned, as eight 16-bit lanes */
  pairSumsU8: (a: Code): Code => [...a, ...op.i16x8ExtaddPairwiseI8x16U],
  /** eight 16-bit lanes added, lane by lane (wrapping) */
  addI16x8: (a: Code, b: Code): Code => [...a, ...b, ...op.i16x8Add],
  block: (...body: Code[]): Code => [...op.block, ...body.flat(), ...op.end],
  /** `brIf(0, ...)` inside it goes back to its start */
  loop: (...body: Code[]): Code => [...op.loop, ...body.flat(), ...op.end],
  if: (condition: Code, then: Code[], otherwise?: Code[]): Code => [
    ...condition,
    ...op.if,
    ...then.flat(),
    ...(otherwise ? [...op.else, ...otherwise.flat()] : []),
    ...op.end,
  ],
  /** to the end of the enclosing block `depth` levels out (the start, for a loop) when `condition` is not 0 */
  brIf: (depth: number, condition: Code): Code => [...condition, ...op.brIf(depth)],
};

export interface WasmFunction {
  /** its export's name */
  name: string;
  /** i32 parameters, then i32 locals (numbered after the parameters) */
  params: number;
  locals: number;
  /** 0 or 1 i32 result */
  results: 0 | 1;
  body: Code;
}

export interface WasmModuleSpec {
  /** the imported memory ("env", "memory"), of exactly `pages` pages of 64 KiB */
  memoryPages: number;
  /**
   * whether that memory is shared (default): another thread may map it. A memory of one thread is better unshared:
   * V8 copies into and out of a shared one (TypedArray.set) on a slower path, ~0.4 us more a call (png.ts).
   */
  shared?: boolean;
  /** mutable i32 globals, each exported under its name, starting at 0 */
  globals: string[];
  functions: WasmFunction[];
}

/** A module's bytes. */
export function wasmModule(spec: WasmModuleSpec): Uint8Array {
  const types = spec.functions.map((f) => [
    0x60,
    ...vector(Array.from({ length: f.params }, () => [I32])),
    ...vector(Array.from({ length: f.results }, () => [I32])),
  ]);
  // limits flag 3: a minimum and a maximum, shared; 1: the same, unshared
  const limits = spec.shared === false ? 0x01 : 0x03;
  const memory = [
    ...name('env'),
    ...name('memory'),
    0x02,
    limits,
    ...uleb(spec.memoryPages),
    ...uleb(spec.memoryPages),
  ];
  const globals = spec.globals.map(() => [I32, 0x01, ...op.i32Const(0), ...op.end]);
  const exports = [
    ...spec.functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]),
    ...spec.globals.map((g, i) => [...name(g), 0x03, ...uleb(i)]),
  ];
  const code = spec.functions.map((f) => {
    const locals = f.locals ? vector([[...uleb(f.locals), I32]]) : vector([]);
    const body = [...locals, ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(2, vector([memory])),
    ...section(3, vector(spec.functions.map((_, i) => uleb(i)))),
    ...(globals.length ? section(6, vector(globals)) : []),
    ...section(7, vector(exports)),
    ...section(10, vector(code)),
  ]);
}
