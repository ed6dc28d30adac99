/**
 * How a datum's process is kept from the store, and ended with the runner.
 *
 * - `namespace` (where `unshare` may make a private mount namespace: root, or a user namespace otherwise): the
 *   datum sees $TESSELLA_HOME read-only except its own out/. Its inputs stay hard links to the blobs (free),
 *   yet no write, chmod, truncate or rename of an input can reach a stored byte, and nothing written outside
 *   out/ (`$PFS_ROOT/out/../../x`) lands in the store: the write fails with EROFS and the datum with it.
 * - `copy` (no namespaces, e.g. a container without CAP_SYS_ADMIN): inputs are private copies (a reflink where
 *   the file system has them), and the store's folders are checked for strays after the datum.
 *
 * TESSELLA_ISOLATION picks one; `auto` (default) takes `namespace` when a probe of it works.
 *
 * Either way the process runs under a small sh wrapper that leads its process group: a background `read` on a
 * pipe from the runner returns at EOF, which comes when the runner dies (even by SIGKILL), and kills the group.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { engineEnv } from '../env.js';

export type Isolation = 'namespace' | 'copy';

/** exit status of the wrapper when it cannot set up the read-only store (not the datum's own) */
export const SETUP_FAILED = 125;

/**
 * $1: ns or copy; $2: the store; $3: the datum's out/; then the command. fd 3: the runner's pipe. The command
 * gets no fd 3 (its children would keep the pipe open). A command killed by a signal is reported as such by
 * the wrapper dying of the same signal.
 */
const WRAPPER = [
  'if [ "$1" = ns ]; then',
  '  mount --bind "$3" "$3" && mount --rbind "$2" "$2" && mount -o remount,bind,ro "$2" || {',
  `    echo "tessella: cannot mount the store read-only for this datum" >&2; exit ${SETUP_FAILED}; }`,
  'fi',
  'shift 3',
  '( read _ <&3; kill -KILL 0 ) &',
  'w=$!',
  'command -v "$1" >/dev/null 2>&1 || { echo "cannot start \\"$1\\": not found" >&2; kill $w; exit 127; }',
  '"$@" 3<&-',
  'rc=$?',
  'kill $w 2>/dev/null',
  'if [ $rc -gt 128 ] && [ $rc -lt 160 ]; then kill -$((rc - 128)) $$; fi',
  'exit $rc',
].join('\n');

/** unshare's arguments for a private mount namespace: root has the capability, others map themselves to root. */
function unshareArgs(): string[] {
  const root = process.getuid?.() === 0;
  return [...(root ? [] : ['--user', '--map-root-user']), '--mount', '--propagation', 'private', '--'];
}

let probed: Isolation | undefined;

/** Whether a read-only bind mount in a private namespace works here, tried once per process. */
function namespaceWorks(): boolean {
  const dir = mkdtempSync(join(process.env.TMPDIR || '/tmp', 'tessella-probe-'));
  try {
    const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && ! touch "$1/x" 2>/dev/null';
    const r = spawnSync('unshare', [...unshareArgs(), 'sh', '-c', script, 'sh', dir], {
      stdio: 'ignore',
      timeout: 10_000,
    });
    return r.status === 0;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The isolation datums get: TESSELLA_ISOLATION, or with `auto` the namespace when it works here. */
export function isolation(): Isolation {
  const want = engineEnv().TESSELLA_ISOLATION;
  if (want !== 'auto') return want;
  probed ??= namespaceWorks() ? 'namespace' : 'copy';
  return probed;
}

/** The program and arguments that run `cmd` for a datum, wrapped as above. */
export function wrapCommand(
  mode: Isolation,
  home: string,
  out: string,
  cmd: string[],
): { file: string; args: string[] } {
  const wrapped = ['sh', '-c', WRAPPER, 'tessella-datum', mode === 'namespace' ? 'ns' : 'copy', home, out, ...cmd];
  if (mode === 'namespace') return { file: 'unshare', args: [...unshareArgs(), ...wrapped] };
  return { file: wrapped[0], args: wrapped.slice(1) };
}
