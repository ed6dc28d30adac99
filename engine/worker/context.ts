/** What a worker runs a job's datums with: the store, the pipeline's spec, the job, its tries, timeout and folders. */
import type { JobRow } from '../pps/jobs.js';
import type { PipelineSpec } from '../pps/spec/pipeline-spec.js';
import type { Store } from '../store/store.js';

export interface DatumContext {
  store: Store;
  spec: PipelineSpec;
  job: JobRow;
  tries: number;
  timeoutS?: number;
  workingDir: string;
  logDir: string;
}
