/** The store a verb works on: opened on first use, closed by runCli when the verb returns. */
import { Store } from '../store/store.js';

let store: Store | undefined;

export function openStore(): Store {
  store ??= Store.open();
  return store;
}

export function closeStore(): void {
  store?.close();
  store = undefined;
}
