/**
 * The stage contract: what Pachyderm (or the embedded engine) gives a datum's process, and safe ways to
 * write outputs. Inputs live under `$PFS_ROOT/<input name>/<path in repo>`; outputs go to `$PFS_ROOT/out`.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { assertOutputWritable } from './pfs-out-check.js';

export interface StageEnv {
  pfsRoot: string;
  outDir: string;
  jobId?: string;
  datumId?: string;
  pipeline?: string;
  outputCommit?: string;
}

/**
 * The datum's environment, read once at a stage's start. Also checks that the outputs can be written (every stage
 * starts here): a datum whose /pfs/out its user cannot write fails at once, saying what to set.
 */
export function readStageEnv(env: Record<string, string | undefined> = process.env): StageEnv {
  const pfsRoot = env.PFS_ROOT || '/pfs';
  const outDir = join(pfsRoot, 'out');
  assertOutputWritable(outDir);
  return {
    pfsRoot,
    outDir,
    jobId: env.PACH_JOB_ID,
    datumId: env.PACH_DATUM_ID,
    pipeline: env.PPS_PIPELINE_NAME,
    outputCommit: env.PACH_OUTPUT_COMMIT_ID,
  };
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * The matched path of input `name` for this datum: Pachyderm sets the env var `<name>` to it
 * (e.g. `/pfs/slides/slide1`). Falls back to `$PFS_ROOT/<name>` when unset (a `/` glob).
 */
export function inputPath(name: string, env: Record<string, string | undefined> = process.env): string {
  const value = env[name];
  if (value) return value;
  const fallback = join(env.PFS_ROOT || '/pfs', name);
  if (existsSync(fallback)) return fallback;
  throw new InputError(
    `input '${name}' is not mounted: neither the variable ${name} nor ${fallback} exists; check the pipeline's input names (use '_' not '-')`,
  );
}

/** The variables naming the inputs shown ahead (aheadInputPath): this prefix, then the input's name. */
export const AHEAD_INPUT_PREFIX = 'TESSELLA_AHEAD_';

/**
 * Where input `name` of the coming job's datums most likely is, shown to a process started ahead of its job by the
 * embedded engine (TESSELLA_AHEAD_<name>; engine/worker/ahead-inputs.ts): a hint to prepare from before the first
 * datum, never the datum's input. undefined where none is shown (Pachyderm, a process started for its datum).
 */
export function aheadInputPath(
  name: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  return env[`${AHEAD_INPUT_PREFIX}${name}`] || undefined;
}

/**
 * The matched path of an input a datum may lack (the inner side of an outer join): Pachyderm then neither mounts
 * it nor sets its variable, so only the variable counts (no `$PFS_ROOT/<name>` fallback).
 */
export function optionalInputPath(
  name: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  return env[name] || undefined;
}

/**
 * A text with the datum's mount root taken out: `/pfs/tile_detect/s1/tiles.json` (or the engine's scratch folder in
 * its place) becomes `tile_detect/s1/tiles.json`, `<input>/<repo path>`, the same on every run and every machine.
 */
export function withoutPfsRoot(text: string, root = process.env.PFS_ROOT || '/pfs'): string {
  const r = root.replace(/\/+$/, '');
  if (!r) return text;
  return text.split(r + '/').join('');
}

/** The slide id of a datum whose matched path is `/<slide_id>` (or a file inside it). */
export function slideIdOf(matchedPath: string): string {
  return basename(matchedPath.replace(/\/+$/, ''));
}

function tmpNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write a whole file to a temp name and rename it into place: readers never see half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tmpNameFor(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Put `source` at `path` as a symlink (Pachyderm and the engine take a link into an input by reference) or as a copy
 * (a plain folder, nothing to link into), made under a temp name and renamed into place: one writer of both kinds.
 */
export function placeAtomic(source: string, path: string, how: 'symlink' | 'copy'): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tmpNameFor(path);
  try {
    if (how === 'symlink') symlinkSync(source, tmp);
    else copyFileSync(source, tmp);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export interface AtomicFile {
  /** Where the writer streams to. */
  tmpPath: string;
  /** Rename into place. */
  commit(): void;
  /** Remove the temp file. */
  abort(): void;
}

/** For streamed writers: write to `tmpPath`, then `commit()` (or `abort()` on failure). */
export function atomicFile(path: string): AtomicFile {
  mkdirSync(dirname(path), { recursive: true });
  const tmpPath = tmpNameFor(path);
  return {
    tmpPath,
    commit: () => renameSync(tmpPath, path),
    abort: () => rmSync(tmpPath, { force: true }),
  };
}

/**
 * A path under `$PFS_ROOT/<input>/` as the user knows it: `<input>@<commit>:/<path in repo>` (Pachyderm's syntax;
 * the input's name is its repo's unless the spec renames it, and `<input>_COMMIT` is the commit it was read from).
 * Messages name this, not the datum's scratch folder. Paths elsewhere come back as they are.
 */
export function repoPathOf(local: string, env: Record<string, string | undefined> = process.env): string {
  const root = env.PFS_ROOT || '/pfs';
  const rel = relative(root, local);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return local;
  const [input, ...rest] = rel.split(sep);
  const commit = env[`${input}_COMMIT`];
  return `${input}${commit ? `@${commit}` : ''}:/${rest.join('/')}`;
}
