/**
 * The stages' start-up check of /pfs/out against real folders: one this process owns, one not yet made, one owned
 * by another user (as root: the check runs as `nobody` against a root-owned folder; otherwise a folder made
 * read-only with chmod), a file where the folder should be; and a real stage (merge-assign) started against an
 * out/ it cannot write, which must fail at once saying what to set, writing nothing.
 *
 * The child runs from one file that esbuild bundles from the sources into a world-readable folder: `nobody` cannot
 * enter a checkout under a 0700 folder (most home folders, `mktemp -d`), so it could not load tsx or the sources.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertOutputWritable, PfsOutError } from '../../shared/pfs-out-check.js';
import { tempDir } from '../helpers/dirs.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const scratch = tempDir('pfs-out');
chmodSync(scratch.dir, 0o755); // mkdtemp makes it 0700: the other user must reach the folders inside
after(() => scratch.cleanup());

// esbuild is tsx's own compiler: taken from tsx's folder, it is the version tsx runs the tests with
const esbuild: typeof import('esbuild') = createRequire(join(root, 'node_modules/tsx/package.json'))('esbuild');

/** `source` (TypeScript, resolved from the project root) bundled into one world-readable .mjs file in scratch. */
function bundle(name: string, source: string): string {
  const outfile = join(scratch.dir, `${name}.mjs`);
  esbuild.buildSync({
    stdin: { contents: source, resolveDir: root, loader: 'ts', sourcefile: `${name}.ts` },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'error',
  });
  chmodSync(outfile, 0o644);
  return outfile;
}

/** A folder this process cannot write: root-owned 0755 (checked as nobody) or its own with mode 0555. */
function unwritableOut(name: string): string {
  const pfs = join(scratch.dir, name);
  mkdirSync(join(pfs, 'out'), { recursive: true });
  chmodSync(pfs, 0o755);
  chmodSync(join(pfs, 'out'), isRoot ? 0o755 : 0o555);
  return pfs;
}

/** Runs a bundled file with node, as nobody when root, else as this user, from a folder nobody can enter. */
function runNode(file: string, env: Record<string, string>): { status: number | null; output: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [file], {
    cwd: scratch.dir,
    env: { ...process.env, TESSELLA_LOG_FORMAT: 'json', ...env },
    encoding: 'utf8',
    ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, ms: performance.now() - t0 };
}

test('a folder this process owns, and one not made yet under it, pass', () => {
  const out = join(scratch.dir, 'own', 'out');
  mkdirSync(out, { recursive: true });
  assertOutputWritable(out);
  assertOutputWritable(join(scratch.dir, 'own', 'not-yet', 'out'));
});

test('a file where the output folder should be is named as such', () => {
  const pfs = join(scratch.dir, 'file');
  mkdirSync(pfs, { recursive: true });
  writeFileSync(join(pfs, 'out'), '');
  const notAFolder = (e: Error): boolean => e instanceof PfsOutError && /is not a folder/.test(e.message);
  assert.throws(() => assertOutputWritable(join(pfs, 'out')), notAFolder);
});

test('a folder owned by another user (or read-only): the error names owner, mode, uid and what to set', () => {
  const pfs = unwritableOut('other');
  // The check itself, in a process that does not own the folder.
  const code = `import { assertOutputWritable } from './shared/pfs-out-check.ts';
    try { assertOutputWritable(${JSON.stringify(join(pfs, 'out'))}); console.log('WRITABLE'); }
    catch (e) { console.log(e.name + ': ' + e.message); process.exitCode = 3; }`;
  const r = runNode(bundle('check', code), {});
  assert.equal(r.status, 3, r.output);
  const uid = isRoot ? NOBODY : process.getuid?.();
  assert.match(r.output, new RegExp(`PfsOutError: .*/out is not writable by uid ${uid} gid \\d+`));
  assert.match(r.output, isRoot ? /owned by uid 0 gid 0, mode 0755/ : /mode 0555/);
  assert.match(r.output, new RegExp(`transform\\.user: "${uid}"`));
});

test('a stage started against an out/ it cannot write fails at once, saying what to set, writing nothing', () => {
  const pfs = unwritableOut('stage');
  mkdirSync(join(pfs, 'manifest'), { recursive: true });
  chmodSync(join(pfs, 'manifest'), 0o755);
  writeFileSync(join(pfs, 'manifest', 'manifest.csv'), 'image_id,patient_id,center_id,label\ns1,p1,A,CE\n');
  const main = bundle('merge-assign', "import './stages/merge-assign/main.ts';");
  const r = runNode(main, { PFS_ROOT: pfs, manifest: join(pfs, 'manifest') });
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /not writable by uid \d+/);
  assert.match(r.output, /transform\.user/);
  assert.deepEqual(readdirSync(join(pfs, 'out')), []);
  assert.ok(r.ms < 30_000, `took ${Math.round(r.ms)} ms`);
});
