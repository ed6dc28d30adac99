/** Opening a system C library for koffi by the first of its names that loads (sonames differ across versions and OSes). */
import koffi from 'koffi';

/** The first of `names` the dynamic loader opens, and why each name before it did not. */
export function loadFirstLibrary(names: string[]): { lib?: koffi.IKoffiLib; failures: string[] } {
  const failures: string[] = [];
  for (const name of names) {
    try {
      return { lib: koffi.load(name), failures };
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { failures };
}
