/**
 * Deploys tessella to a real Pachyderm cluster (the current `pachctl` context):
 *   1. builds and pushes the images: docker/Dockerfile.cpu -> REG/tessella-cpu:TAG, docker/Dockerfile.gpu -> REG/tessella-gpu:TAG;
 *   2. renders every spec of pipelines/ with its placeholder image (`tessella-cpu:latest`, `tessella-gpu:latest`)
 *      replaced by the pushed one, one JSON file per pipeline;
 *   3. creates the input repos slides, manifest and models when absent;
 *   4. creates each pipeline in DAG order, or updates it when it exists (so running it again is harmless).
 *
 * Usage: scripts/deploy-cluster.sh --registry REG [--tag TAG] [--dry-run] [--gpu-image-only]
 *                                  [--user UID|none] [--pipelines DIR] [--render-dir DIR]
 *   --tag             defaults to the git commit (`git describe --always --dirty`): a new tag per change, so
 *                     Kubernetes pulls the new image (a reused `latest` tag would keep the old one on the nodes)
 *   --dry-run         prints every command instead of running it (the specs are still rendered, to be read)
 *   --gpu-image-only  builds and pushes only the GPU image and updates only the pipelines that use it
 *                     (normalize, embed); for a deployment whose CPU pipelines already exist
 *   --user UID|none   the uid every pipeline runs as (transform.user). Default: each spec's own, else 1000, the
 *                     images' user. Pachyderm makes a pod security context (runAsUser, runAsGroup, fsGroup = UID,
 *                     runAsNonRoot) only from a numeric transform.user, and its worker, running as that uid, makes
 *                     /pfs/out its own: so a number, never 0 (runAsNonRoot would stop the pod). `none` drops it, for
 *                     clusters that assign uids themselves (OpenShift's restricted SCC) or run workers as root
 *                     (pachd's WORKER_USES_ROOT): the worker then runs as that uid, and /pfs/out is still its own.
 *                     See the README, "The user container".
 *   --pipelines DIR   the spec folder (default: the project's pipelines/)
 *   --render-dir DIR  where the rendered specs go (default: a new temporary folder)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipelineOrder } from '../engine/pps/dag.js';
import { parseSpecs } from '../engine/pps/spec/load.js';
import { readSpecDocuments } from '../engine/pps/spec/documents.js';
import { SpecError } from '../engine/pps/spec/spec-error.js';
import type { PipelineSpec } from '../engine/pps/spec/pipeline-spec.js';
import { INPUT_REPOS, specFilesIn } from '../app/spec-folder.js';

const IMAGES = ['cpu', 'gpu'] as const;
type Flavour = (typeof IMAGES)[number];
/** The placeholder images the specs name: `tessella-cpu:latest` (or without a tag). */
const PLACEHOLDER = /^tessella-(cpu|gpu)(?::latest)?$/;
/** The uid of both images' USER (docker/Dockerfile.*). */
const IMAGE_UID = '1000';

interface Options {
  registry: string;
  tag?: string;
  dryRun: boolean;
  gpuImageOnly: boolean;
  /** undefined: keep each spec's transform.user (else IMAGE_UID); 'none': drop it; else this uid */
  user?: string;
  pipelinesDir: string;
  renderDir?: string;
}

/** The project root: the folder holding package.json above this script (scripts/ or dist/scripts/). */
function projectRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'docker'))) return dir;
    dir = resolve(dir, '..');
  }
  return process.cwd();
}

const USAGE =
  'usage: scripts/deploy-cluster.sh --registry REG [--tag TAG] [--dry-run] [--gpu-image-only] [--user UID|none]' +
  ' [--pipelines DIR] [--render-dir DIR]';

function parseArgs(argv: string[], root: string): Options {
  const o: Options = { registry: '', dryRun: false, gpuImageOnly: false, pipelinesDir: join(root, 'pipelines') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const [flag, inline] = a.split(/=(.*)/s, 2);
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const flag = a.split('=')[0];
    switch (flag) {
      case '--registry':
        o.registry = value().replace(/\/+$/, '');
        break;
      case '--tag':
        o.tag = value();
        break;
      case '--dry-run':
        o.dryRun = true;
        break;
      case '--gpu-image-only':
        o.gpuImageOnly = true;
        break;
      case '--user':
        o.user = value();
        break;
      case '--pipelines':
        o.pipelinesDir = resolve(value());
        break;
      case '--render-dir':
        o.renderDir = resolve(value());
        break;
      case '-h':
      case '--help':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown argument ${a}`);
    }
  }
  if (!o.registry)
    throw new UsageError(
      '--registry is required (e.g. --registry ghcr.io/my-lab or --registry 123.dkr.ecr.eu-west-1.amazonaws.com)',
    );
  if (o.tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(o.tag)) {
    throw new UsageError(
      `--tag ${o.tag}: a Docker tag is letters, digits, "_", "." and "-" (at most 128, not starting with "." or "-")`,
    );
  }
  if (o.user !== undefined && o.user !== 'none') {
    const problem = userProblem(o.user);
    if (problem) throw new UsageError(`--user ${o.user}: ${problem}`);
  }
  return o;
}

/** Why a transform.user would not give the pod the security context the stages need, or undefined. */
function userProblem(user: string): string | undefined {
  if (!/^\d+$/.test(user)) {
    return (
      "a numeric uid is needed: Pachyderm builds the pod's security context (runAsUser, fsGroup) " +
      'only from a number; ' +
      `with a name it only switches the process's user inside the container (e.g. ${IMAGE_UID}, the images' user)`
    );
  }
  if (Number(user) === 0) {
    return (
      'Pachyderm sets runAsNonRoot: true with transform.user, so uid 0 stops the pod; for root, use --user none ' +
      'on a cluster whose pachd runs workers as root (WORKER_USES_ROOT)'
    );
  }
  return undefined;
}

class UsageError extends Error {}

function defaultTag(root: string): string {
  const r = spawnSync('git', ['describe', '--always', '--dirty', '--abbrev=12'], { cwd: root, encoding: 'utf8' });
  const t = r.status === 0 ? r.stdout.trim() : '';
  return t && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(t)
    ? t
    : `build-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
}

/** Shell-quotes one word (for printing and for `bash -c`). */
function q(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

interface Rendered {
  name: string;
  file: string; // the source spec file
  flavour?: Flavour;
  image: string;
  user?: string; // transform.user as rendered
  rendered: string; // the rendered spec path
}

/** The specs in DAG order, each rendered with its image substituted. */
function renderSpecs(o: Options, tag: string, renderDir: string): Rendered[] {
  if (!existsSync(o.pipelinesDir)) throw new SpecError(`no spec folder ${o.pipelinesDir}`);
  const files = specFilesIn(o.pipelinesDir);
  if (files.length === 0) throw new SpecError(`${o.pipelinesDir} holds no pipeline spec (*.yaml, *.yml, *.json)`);

  const specs: PipelineSpec[] = [];
  const raw = new Map<string, { doc: Record<string, unknown>; file: string }>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const parsed = parseSpecs(text, file); // validates; throws SpecError naming file and field
    const docs = readSpecDocuments(text, file);
    parsed.forEach((s, i) => {
      specs.push(s);
      raw.set(s.pipeline.name, { doc: docs[i] as Record<string, unknown>, file });
    });
  }
  const ordered = pipelineOrder(specs, new Set(INPUT_REPOS));

  mkdirSync(renderDir, { recursive: true });
  return ordered.map((spec, i) => {
    const { doc, file } = raw.get(spec.pipeline.name)!;
    const transform = doc.transform as Record<string, unknown>;
    const image = typeof transform.image === 'string' ? transform.image : undefined;
    if (!image) {
      throw new SpecError(
        `${file} (pipeline ${spec.pipeline.name}): transform.image: required on a cluster: tessella-cpu:latest or tessella-gpu:latest (replaced by the pushed image)`,
        file,
        'transform.image',
      );
    }
    const m = PLACEHOLDER.exec(image);
    const flavour = m ? (m[1] as Flavour) : undefined;
    const finalImage = flavour ? `${o.registry}/tessella-${flavour}:${tag}` : image;
    const own = typeof transform.user === 'string' ? transform.user : undefined;
    const user = o.user === 'none' ? undefined : (o.user ?? own ?? IMAGE_UID);
    const problem = user === undefined ? undefined : userProblem(user);
    if (problem) {
      const where = `${file} (pipeline ${spec.pipeline.name})`;
      throw new SpecError(`${where}: transform.user ${user}: ${problem}`, file, 'transform.user');
    }
    const { user: _dropped, ...rest } = transform;
    void _dropped;
    const out = { ...doc, transform: { ...rest, image: finalImage, ...(user === undefined ? {} : { user }) } };
    const rendered = join(renderDir, `${String(i + 1).padStart(2, '0')}-${spec.pipeline.name}.json`);
    writeFileSync(rendered, JSON.stringify(out, null, 2) + '\n');
    return { name: spec.pipeline.name, file, flavour, image: finalImage, user, rendered };
  });
}

interface Step {
  what: string;
  command: string; // one shell line
}

function plan(o: Options, tag: string, specs: Rendered[]): Step[] {
  const steps: Step[] = [];
  const flavours: Flavour[] = o.gpuImageOnly ? ['gpu'] : [...IMAGES];
  for (const f of flavours) {
    const image = `${o.registry}/tessella-${f}:${tag}`;
    steps.push({
      what: `build the ${f.toUpperCase()} image`,
      command: `docker build -f docker/Dockerfile.${f} -t ${q(image)} .`,
    });
    steps.push({ what: `push the ${f.toUpperCase()} image`, command: `docker push ${q(image)}` });
  }
  for (const repo of INPUT_REPOS) {
    steps.push({
      what: `input repo ${repo}`,
      command: `pachctl inspect repo ${repo} >/dev/null 2>&1 || pachctl create repo ${repo}`,
    });
  }
  for (const s of specs) {
    if (o.gpuImageOnly && s.flavour !== 'gpu') continue;
    const f = q(s.rendered);
    steps.push({
      what: `pipeline ${s.name} (image ${s.image}, user ${s.user ?? "the image's"}, from ${basename(s.file)})`,
      command: `if pachctl inspect pipeline ${q(s.name)} >/dev/null 2>&1; then pachctl update pipeline -f ${f}; else pachctl create pipeline -f ${f}; fi`,
    });
  }
  return steps;
}

function run(step: Step, root: string): void {
  console.log(`==> ${step.what}\n    ${step.command}`);
  const r = spawnSync('bash', ['-c', step.command], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    throw new Error(`failed (exit ${r.status ?? r.signal}): ${step.command}`);
  }
}

function requireTool(tool: string, why: string): void {
  const r = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${tool} is not on PATH; it is needed to ${why}`);
}

export function main(argv: string[]): number {
  const root = projectRoot();
  let o: Options;
  try {
    o = parseArgs(argv, root);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message ? `deploy-cluster: ${e.message}\n${USAGE}` : USAGE);
      return e.message ? 2 : 0;
    }
    throw e;
  }
  try {
    const tag = o.tag ?? defaultTag(root);
    const renderDir = o.renderDir ?? mkdtempSync(join(tmpdir(), 'tessella-deploy-'));
    const specs = renderSpecs(o, tag, renderDir);
    const steps = plan(o, tag, specs);
    if (o.dryRun) {
      console.log(`# tessella deploy (dry run): registry ${o.registry}, tag ${tag}; rendered specs in ${renderDir}`);
      console.log(`# pipelines in DAG order: ${specs.map((s) => s.name).join(', ')}`);
      console.log(`cd ${q(root)}`);
      for (const s of steps) console.log(`# ${s.what}\n${s.command}`);
      return 0;
    }
    requireTool('docker', 'build and push the images');
    requireTool('pachctl', 'create the repos and pipelines');
    for (const s of steps) run(s, root);
    console.log(`deployed: ${specs.map((s) => s.name).join(', ')} (tag ${tag})`);
    console.log('next: pachctl put file slides@master:/<slide_id>/<file> -f <file>; pachctl list job');
    return 0;
  } catch (e) {
    console.error(`deploy-cluster: ${(e as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
