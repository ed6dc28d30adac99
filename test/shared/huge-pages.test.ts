import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { adviseHugePages } from '../../shared/huge-pages.js';
import { newTableMemory, TABLE_BYTES } from '../../shared/onnx/colour-table-kernel.js';

const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
const skip = process.platform !== 'linux' || !existsSync(THP) ? 'needs Linux with transparent huge pages' : false;

/** The sizes (bytes) of this process's mappings the kernel marks for huge pages (VmFlags `hg`: MADV_HUGEPAGE). */
function advisedMappings(): number[] {
  return readFileSync('/proc/self/smaps', 'utf8')
    .split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
    .filter((m) => /^VmFlags:.*\bhg\b/m.test(m))
    .map((m) => {
      const [from, to] = m.slice(0, m.indexOf(' ')).split('-');
      return Number(BigInt(`0x${to}`) - BigInt(`0x${from}`));
    });
}

describe('huge pages for memory V8 maps itself', { skip }, () => {
  it('marks a WebAssembly memory for huge pages, the whole of it', () => {
    const memory = new WebAssembly.Memory({ initial: 160, maximum: 160, shared: true }); // 10 MiB
    const before = advisedMappings().filter((n) => n === memory.buffer.byteLength).length;
    assert.equal(adviseHugePages(memory.buffer), true);
    assert.equal(advisedMappings().filter((n) => n === memory.buffer.byteLength).length, before + 1);
  });

  it("is asked for the colour table's memory as it is made", () => {
    const before = advisedMappings().length;
    const memory = newTableMemory();
    const sizes = advisedMappings();
    assert.equal(sizes.length, before + 1);
    assert.ok(sizes.includes(memory.buffer.byteLength), `a mapping of the table's ${TABLE_BYTES} bytes and more`);
  });

  it('refuses a buffer smaller than a page, leaving it as it was', () => {
    assert.equal(adviseHugePages(new SharedArrayBuffer(100)), false);
  });
});
