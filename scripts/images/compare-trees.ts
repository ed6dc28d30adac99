/**
 * Two output folders compared byte for byte: the same paths, the same kinds (file, folder, symlink), the same
 * bytes, and symlinks with the same target once each side's PFS root is written as /pfs.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

interface Entry {
  kind: 'file' | 'dir' | 'link';
  /** a file's bytes or a link's target (with the PFS root as /pfs) */
  value?: Buffer | string;
}

function entries(dir: string, pfsRoot: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (rel: string): void => {
    const full = join(dir, rel);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(full);
      const value = target.startsWith(pfsRoot) ? '/pfs' + target.slice(pfsRoot.length) : target;
      out.set(rel, { kind: 'link', value });
    } else if (st.isDirectory()) {
      if (rel) out.set(rel, { kind: 'dir' });
      for (const name of readdirSync(full).sort()) visit(rel ? `${rel}/${name}` : name);
    } else {
      out.set(rel, { kind: 'file', value: readFileSync(full) });
    }
  };
  visit('');
  return out;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

export interface TreeComparison {
  files: number;
  bytes: number;
  differences: string[];
}

/** Compares `a` (outputs under PFS root `aRoot`) with `b` (under `bRoot`). */
export function compareTrees(a: string, aRoot: string, b: string, bRoot: string): TreeComparison {
  const ea = entries(a, aRoot);
  const eb = entries(b, bRoot);
  const differences: string[] = [];
  let files = 0;
  let bytes = 0;
  for (const [path, x] of ea) {
    const y = eb.get(path);
    if (!y) {
      differences.push(`${path}: only outside the image`);
      continue;
    }
    if (x.kind !== y.kind) {
      differences.push(`${path}: a ${x.kind} outside, a ${y.kind} in the image`);
    } else if (x.kind === 'file') {
      const xa = x.value as Buffer;
      const yb = y.value as Buffer;
      files++;
      bytes += xa.length;
      if (!xa.equals(yb)) {
        const at = firstDifference(xa, yb);
        differences.push(`${path}: ${xa.length} vs ${yb.length} bytes, first difference at byte ${at}`);
      }
    } else if (x.kind === 'link' && x.value !== y.value) {
      differences.push(`${path}: links to ${String(x.value)} outside, ${String(y.value)} in the image`);
    }
  }
  for (const path of eb.keys()) if (!ea.has(path)) differences.push(`${path}: only in the image`);
  return { files, bytes, differences };
}
