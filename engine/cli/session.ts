/** The store a verb works on: opened on first use, closed by runCli when the verb returns. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { engineEnv } from '../env.js';
import { defaultHome, Store, StoreError } from '../store/store.js';

let store: Store | undefined;

/** The store, created where there is none yet: for the verbs that write (init, create repo, put file, run). */
export function openStore(): Store {
  store ??= Store.open();
  return store;
}

/**
 * The store for a verb that only reads: refused where there is none, so that a mistyped TESSELLA_HOME says so
 * instead of leaving an empty store there and answering `repo "x" not found`.
 */
export function openStoreToRead(): Store {
  if (!store) {
    const home = defaultHome();
    if (!existsSync(join(home, 'meta.sqlite'))) {
      const which =
        engineEnv().TESSELLA_HOME === undefined
          ? 'TESSELLA_HOME is not set, so the store is ./.tessella in the current folder'
          : 'TESSELLA_HOME';
      throw new StoreError(
        `no tessella store at ${home} (${which}): set TESSELLA_HOME to the folder of your store, or make one with tessella init`,
      );
    }
  }
  return openStore();
}

export function closeStore(): void {
  store?.close();
  store = undefined;
}
