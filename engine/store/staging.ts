/**
 * The `staging` table: processes that are writing blobs a commit will refer to once they are all in (a large
 * `put file` takes a while). gc keeps its hands off while a live one is there.
 */
import { hostname } from 'node:os';
import { processAlive, selfStartTime } from './proc.js';
import { now, type Store } from './store.js';

export interface Stager {
  pid: number;
  pid_start: string;
  host: string;
  since: string;
}

/** Marks this process as staging blobs until `done()`; a crash leaves a dead row, ignored and cleared by gc. */
export function beginStaging(store: Store): { done(): void } {
  store.refuseWritesIfDamaged(); // before any blob of the put is written
  store
    .stmt(`INSERT OR REPLACE INTO staging (pid, pid_start, host, since) VALUES (?, ?, ?, ?)`)
    .run(process.pid, selfStartTime, hostname(), now());
  return {
    done() {
      store.stmt(`DELETE FROM staging WHERE pid = ? AND host = ?`).run(process.pid, hostname());
    },
  };
}

/** Live stagers (other hosts are taken as live); dead rows are dropped. */
export function liveStagers(store: Store): Stager[] {
  const out: Stager[] = [];
  for (const s of store.stmt<Stager>(`SELECT pid, pid_start, host, since FROM staging`).all()) {
    if (s.host === hostname() && !processAlive(s.pid, s.pid_start)) {
      store.stmt(`DELETE FROM staging WHERE pid = ? AND host = ?`).run(s.pid, s.host);
      continue;
    }
    if (s.host === hostname() && s.pid === process.pid) continue;
    out.push(s);
  }
  return out;
}
