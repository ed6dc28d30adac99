/**
 * The part of the WebAssembly JavaScript API the project uses. Node has it as a global; its types live in
 * TypeScript's DOM library, which this Node-only project does not load.
 */
declare namespace WebAssembly {
  interface MemoryDescriptor {
    /** in pages of 64 KiB */
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** a SharedArrayBuffer for a shared memory */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Global {
    value: unknown;
  }
}
