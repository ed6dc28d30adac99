import type { Store } from './store/store.js';
import type { Logger } from '../shared/log.js';
import { StoreError } from './store/store.js';

export interface GcResult { blobs_removed: number; bytes_freed: number; scratch_removed: number; temp_removed: number; datum_outputs_pruned: number }

export async function gc(store: Store, opts?: { dryRun?: boolean; waitMs?: number; log?: Logger }): Promise<GcResult> {
  throw new StoreError('not available yet');
}

export interface RemovedCommit { repo: string; commit: string }

export function squashCommit(store: Store, repo: string, ref: string): RemovedCommit[] {
  throw new StoreError('not available yet');
}

export function deleteCommit(store: Store, repo: string, ref: string): RemovedCommit[] {
  throw new StoreError('not available yet');
}
