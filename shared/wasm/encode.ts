/**
 * The few parts of the WebAssembly binary format that the project's hand-written kernels need: i32 functions over
 * one imported shared memory, i32 globals, exports. A kernel is a list of instructions built with `op`; `wasmModule`
 * lays them out as a module's bytes (the format: webassembly.github.io/spec/core/binary). Written here so that no
 * compiler or toolchain is needed to build or install the project.
 */

/** The value type i32, the only one the kernels use. */
const I32 = 0x7f;

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

/** The instructions the kernels use (i32 only). Blocks, loops and ifs have no result; `end` closes each. */
export const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  globalGet: (i: number) => [0x23, ...uleb(i)],
  globalSet: (i: number) => [0x24, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Load: (offset = 0) => [0x28, ...memarg(2, offset)],
  i32Load8U: (offset = 0) => [0x2d, ...memarg(0, offset)],
  i32Store: (offset = 0) => [0x36, ...memarg(2, offset)],
  i32Store8: (offset = 0) => [0x3a, ...memarg(0, offset)],
  /** compare-and-swap of an aligned i32 (shared memory): [address, expected, replacement] -> the old value */
  i32AtomicCmpxchg: (offset = 0) => [0xfe, 0x48, ...memarg(2, offset)],
  i32Eqz: [0x45],
  i32LtU: [0x49],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Or: [0x72],
  i32Shl: [0x74],
  i32ShrU: [0x76],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  else: [0x05],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
} as const;

export interface WasmFunction {
  /** its export's name */
  name: string;
  /** i32 parameters, then i32 locals (numbered after the parameters) */
  params: number;
  locals: number;
  /** 0 or 1 i32 result */
  results: 0 | 1;
  body: number[];
}

export interface WasmModuleSpec {
  /** the imported memory ("env", "memory"), shared, of exactly `pages` pages of 64 KiB */
  memoryPages: number;
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
  // limits flag 3: a minimum and a maximum, shared
  const memory = [...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(spec.memoryPages), ...uleb(spec.memoryPages)];
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
