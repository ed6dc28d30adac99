/**
 * The stage contract: what crosses a stage boundary. File names (files.ts), shape constants (shapes.ts), and the
 * schema, builder or validated reader of every file one stage writes and another reads: tiles.json, error.json,
 * the per-slide tensors, the merge pipelines' files, the patient record and dataset.json.
 */
export * from './files.js';
export * from './shapes.js';
export * from './tiles-json.js';
export * from './error-json.js';
export * from './slide-tensors.js';
export * from './merge-files.js';
export * from './mpp-override.js';
export * from './patient-example.js';
export * from './dataset-json.js';
