import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineEnv } from './env.js';

/** The folder holding tessella's package.json (specs' `/app`), or $TESSELLA_APP_DIR. */
export function appDir(): string {
  const given = engineEnv().TESSELLA_APP_DIR;
  if (given) return resolve(given);
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'tessella') return d;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(d);
    if (up === d) return process.cwd();
    d = up;
  }
}
