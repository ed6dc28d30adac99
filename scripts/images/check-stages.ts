/**
 * Runs every pipeline of pipelines/ in a built image by the Pachyderm contract, and the same stage outside the image
 * (this checkout's dist/), on real fixture slides, and compares their outputs byte for byte.
 *
 *   node --import tsx scripts/images/check-stages.ts --builder buildah|docker --image IMG --work DIR
 *
 * Per pipeline, in DAG order: its datums come from the engine's datum code over folder repos (join, cross, union,
 * lazy, as Pachyderm computes them); each datum gets /pfs/<input>/<path> (hard links), an empty /pfs/out owned by
 * the spec's transform.user (what Pachyderm's worker makes), and the variables a worker sets (<input>,
 * <input>_COMMIT, PACH_DATUM_<input>_JOIN_ON, PACH_DATUM_ID, ...) plus transform.env. The outside run's outputs
 * become the pipeline's repo for the next pipelines.
 * Pipelines with datum batching are then run once more in the image, one process serving every datum through
 * NextDatum answered from this machine's loopback, with the same outputs per datum.
 * Then the contract's failure case: each stage started in the image against a root-owned /pfs/out must fail at
 * once (a few seconds), saying what to set, and write nothing.
 * Exit 0 only when every datum ran in both places with identical outputs and every failure case failed as it should.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { computeDatums, datumEnv as datumOwnEnv, type Datum } from '../../engine/pps/datums.js';
import type { PipelineSpec } from '../../engine/pps/spec/pipeline-spec.js';
import { orderedSpecsIn } from '../../app/spec-folder.js';
import { buildModels, DEFAULT_SHIFT } from '../models/build.js';
import { compareTrees } from './compare-trees.js';
import { answer, NextDatumServer, refuse } from '../../engine/worker/next-datum-server.js';
import { clearDatumRoot } from '../../engine/worker/scratch.js';
import { imageRunner, type Builder, type ImageRunner } from './container.js';
import { folderSnapshot, gatherOutputs, layOutDatum } from './folder-repos.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = resolve(root, '..', 'shared', 'fixtures');
/** Slides of the check: a real H&E slide, and a real corrupt one (the error path through every stage). */
const SLIDES = [
  // cmu1 gives its resolution in the manifest, so manifest-mpp writes a file (tile-detect ignores it: no TILE_UM)
  { id: 'cmu1', file: 'cmu-1-small-region.svs', patient: 'P1', center: 'A', label: 'CE', mpp: '0.499' },
  { id: 'corrupt1', file: 'unreadable.svs', patient: 'P2', center: 'B', label: 'LAA', mpp: '' },
];
/** A stage that cannot write /pfs/out must say so within this many seconds (node start-up included). */
const FAIL_FAST_S = 20;

function makeInputRepos(repos: string): string {
  for (const s of SLIDES) {
    const src = join(fixtures, 'slides', s.file);
    if (!existsSync(src)) {
      throw new Error(`${src} is missing: the check runs on ../shared/fixtures (see ../shared/FIXTURES.md)`);
    }
    mkdirSync(join(repos, 'slides', s.id), { recursive: true });
    copyFileSync(src, join(repos, 'slides', s.id, s.file));
  }
  mkdirSync(join(repos, 'manifest'), { recursive: true });
  const rows = SLIDES.map((s) => `${s.id},${s.patient},${s.center},${s.label},${s.mpp}`);
  const manifest = ['image_id,patient_id,center_id,label,mpp', ...rows].join('\n') + '\n';
  writeFileSync(join(repos, 'manifest', 'manifest.csv'), manifest);
  const effnet = join(fixtures, 'models', 'efficientnet-b0-random.onnx');
  const embed = existsSync(effnet) ? 'EfficientNet-B0 (random weights, ../shared)' : 'the tiny test CNN';
  buildModels({
    out: join(repos, 'models'),
    normalize: 'shift',
    shift: DEFAULT_SHIFT,
    embed: 'tiny',
    embedOnnx: existsSync(effnet) ? effnet : undefined,
    seed: 0,
  });
  return embed;
}

/** The variables Pachyderm's worker sets for a datum, with the spec's transform.env, for PFS root `pfsRoot`. */
function datumEnv(spec: PipelineSpec, datum: Datum, pfsRoot: string): Record<string, string> {
  return { ...jobEnv(spec), ...datumOwnEnv(datum, pfsRoot) };
}

/** What every datum of the job gets: transform.env and the job's variables (a batched stage starts with these). */
function jobEnv(spec: PipelineSpec): Record<string, string> {
  const env: Record<string, string> = { ...(spec.transform.env ?? {}) };
  env.PACH_JOB_ID = 'check-images';
  env.PACH_OUTPUT_COMMIT_ID = 'check-images';
  env.PPS_PIPELINE_NAME = spec.pipeline.name;
  // The CPU image runs the GPU stages on ONNX Runtime's CPU provider (their specs ask for cuda,cpu). Only theirs:
  // another stage refuses a parameter it does not have (shared/stage-parameters.ts).
  if ('EXECUTION_PROVIDERS' in env) env.EXECUTION_PROVIDERS = 'cpu';
  return env;
}

interface Ran {
  status: number | null;
  output: string;
  seconds: number;
}

function runOutside(spec: PipelineSpec, env: Record<string, string>, pfsRoot: string): Ran {
  const t0 = performance.now();
  const r = spawnSync(spec.transform.cmd[0], spec.transform.cmd.slice(1), {
    cwd: root,
    // the image's ENV (NODE_ENV, TESSELLA_LOG_FORMAT) and nothing else of this shell
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      TESSELLA_LOG_FORMAT: 'json',
      ...env,
      PFS_ROOT: pfsRoot,
    },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, seconds: (performance.now() - t0) / 1000 };
}

function uidOf(spec: PipelineSpec): { uid: number; gid: number } {
  const [u, g] = (spec.transform.user ?? '1000').split(':');
  if (!/^\d+$/.test(u)) {
    throw new Error(`${spec.pipeline.name}: transform.user ${spec.transform.user}: the check needs a numeric uid`);
  }
  return { uid: Number(u), gid: Number(g ?? u) };
}

function tail(text: string, lines = 6): string {
  return text
    .trim()
    .split('\n')
    .slice(-lines)
    .map((l) => `      | ${l.slice(0, 400)}`)
    .join('\n');
}

interface Row {
  pipeline: string;
  datums: number;
  files: number;
  bytes: number;
  outside: number;
  inside: number;
  ok: boolean;
}

function checkPipeline(spec: PipelineSpec, repos: string, runs: string, image: ImageRunner): Row {
  const name = spec.pipeline.name;
  const datums = computeDatums(spec.input, (repo) => folderSnapshot(repos, repo));
  const row: Row = { pipeline: name, datums: datums.length, files: 0, bytes: 0, outside: 0, inside: 0, ok: true };
  row.ok = datums.length > 0;
  if (datums.length === 0) console.log(`  ${name}: no datums (its inputs are empty): FAIL`);
  rmSync(join(repos, name), { recursive: true, force: true });
  mkdirSync(join(repos, name), { recursive: true });
  const { uid, gid } = uidOf(spec);
  datums.forEach((datum, i) => {
    const mounted = datum.inputs.map((x) => `${x.name}${x.path}`).join(', ');
    const label = `${name} datum ${i + 1}/${datums.length} (${mounted})`;
    const outPfs = join(runs, name, String(i), 'outside');
    const inPfs = join(runs, name, String(i), 'inside');
    layOutDatum(repos, datum, outPfs);
    layOutDatum(repos, datum, inPfs);
    chownSync(join(inPfs, 'out'), uid, gid); // the worker's own folder: it runs as transform.user

    const o = runOutside(spec, datumEnv(spec, datum, outPfs), outPfs);
    const m = image.run(inPfs, datumEnv(spec, datum, '/pfs'), spec.transform.cmd);
    row.outside += o.seconds;
    row.inside += m.seconds;
    // the next pipelines read the outside run's outputs, so one failure in the image does not hide the others
    if (o.status === 0) gatherOutputs(outPfs, join(repos, name));
    if (o.status !== 0 || m.status !== 0) {
      row.ok = false;
      console.log(`  ${label}: exit ${o.status} outside, ${m.status} in the image: FAIL`);
      if (o.status !== 0) console.log(`    outside:\n${tail(o.output)}`);
      if (m.status !== 0) console.log(`    in the image:\n${tail(m.output)}`);
      return;
    }
    const c = compareTrees(join(outPfs, 'out'), outPfs, join(inPfs, 'out'), '/pfs');
    row.files += c.files;
    row.bytes += c.bytes;
    if (c.files === 0) {
      row.ok = false;
      console.log(`  ${label}: wrote no file: FAIL`);
    }
    if (c.differences.length) {
      row.ok = false;
      console.log(
        `  ${label}: outputs differ: FAIL\n${c.differences
          .slice(0, 10)
          .map((d) => `    ${d}`)
          .join('\n')}`,
      );
    }
  });
  return row;
}

/**
 * A pipeline with datum batching: ONE process of its stage in the image serves all its datums through NextDatum,
 * answered here on the loopback (the engine's own server), each datum laid out in turn under the same /pfs; each
 * datum's outputs must equal the outside run's of that datum (checkPipeline ran it first).
 */
async function checkBatched(spec: PipelineSpec, repos: string, runs: string, image: ImageRunner): Promise<boolean> {
  const name = spec.pipeline.name;
  const datums = computeDatums(spec.input, (repo) => folderSnapshot(repos, repo));
  const pfs = join(runs, name, 'batched');
  rmSync(pfs, { recursive: true, force: true });
  mkdirSync(join(pfs, 'out'), { recursive: true });
  const { uid, gid } = uidOf(spec);
  chownSync(join(pfs, 'out'), uid, gid);
  const server = new NextDatumServer();
  const port = await server.listen();
  const t0 = performance.now();
  const child = image.start(pfs, { ...jobEnv(spec), PPS_WORKER_GRPC_PORT: String(port) }, spec.transform.cmd);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<string>((resolve) => child.on('close', (code) => resolve(`exited ${code}`)));
  const fail = (why: string) => {
    console.log(`  ${name}: ${why}: FAIL\n${tail(output)}`);
    return false;
  };
  try {
    let call = await Promise.race([server.nextCall(), exited]);
    for (const [i, datum] of datums.entries()) {
      if (typeof call === 'string') return fail(`before datum ${i + 1}/${datums.length} the stage ${call}`);
      clearDatumRoot(pfs);
      layOutDatum(repos, datum, pfs);
      answer(
        call.stream,
        Object.entries({ ...jobEnv(spec), ...datumOwnEnv(datum, '/pfs') }).map(([k, v]) => `${k}=${v}`),
      );
      call = await Promise.race([server.nextCall(), exited]);
      if (typeof call === 'string') return fail(`datum ${i + 1}: the stage ${call} instead of asking for the next`);
      if (call.error) return fail(`datum ${i + 1}: the stage reported ${call.error}`);
      const outside = join(runs, name, String(i), 'outside');
      const c = compareTrees(join(outside, 'out'), outside, join(pfs, 'out'), '/pfs');
      if (c.files === 0 || c.differences.length)
        return fail(`datum ${i + 1}: ${c.files} files, ${c.differences.slice(0, 3).join('; ') || 'none written'}`);
    }
    // no datum left: Pachyderm's worker ends the process; here the last call is refused and the stage exits
    if (typeof call !== 'string') refuse(call.stream, 'no datum left');
    await exited;
    const seconds = (performance.now() - t0) / 1000;
    console.log(`  ${name}: ${datums.length} datums in one process, ${seconds.toFixed(1)} s, outputs identical: ok`);
    return true;
  } finally {
    child.kill('SIGKILL');
    await server.close();
  }
}

/** The stage in the image against a root-owned /pfs/out: must fail fast, say what to set, and write nothing. */
function checkRootOwnedOut(spec: PipelineSpec, repos: string, runs: string, image: ImageRunner): boolean {
  const datum = computeDatums(spec.input, (repo) => folderSnapshot(repos, repo))[0];
  if (!datum) return false;
  const pfs = join(runs, spec.pipeline.name, 'root-owned-out');
  layOutDatum(repos, datum, pfs);
  chownSync(join(pfs, 'out'), 0, 0);
  const r = image.run(pfs, datumEnv(spec, datum, '/pfs'), spec.transform.cmd);
  const said = /not writable by uid \d+/.test(r.output) && r.output.includes('transform.user');
  const wrote = readdirSync(join(pfs, 'out'));
  const ok = r.status !== 0 && r.status !== null && said && wrote.length === 0 && r.seconds < FAIL_FAST_S;
  const hint = said ? 'names the fix' : 'no hint of the fix';
  const what = `exit ${r.status} after ${r.seconds.toFixed(1)} s, ${hint}, ${wrote.length} entries written`;
  console.log(`  ${spec.pipeline.name}: ${what}: ${ok ? 'ok' : 'FAIL'}`);
  const message = r.output.split('\n').find((l) => l.includes('not writable'));
  if (!ok) console.log(tail(r.output));
  else if (spec.pipeline.name === 'tile-detect' && message) console.log(`      | ${message.slice(0, 600)}`);
  return ok;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { builder: { type: 'string' }, image: { type: 'string' }, work: { type: 'string' } },
  });
  const builder = values.builder as Builder;
  if ((builder !== 'docker' && builder !== 'buildah') || !values.image || !values.work) {
    console.error('usage: check-stages --builder docker|buildah --image IMAGE --work DIR');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error("check-stages: run as root: it gives each datum's /pfs/out to the image's user (chown)");
    return 2;
  }
  const work = resolve(values.work);
  const repos = join(work, 'repos');
  const runs = join(work, 'runs');
  rmSync(repos, { recursive: true, force: true });
  rmSync(runs, { recursive: true, force: true });
  const embed = makeInputRepos(repos);
  const ordered = orderedSpecsIn(join(root, 'pipelines'));
  console.log(`check-stages: ${SLIDES.map((s) => s.file).join(', ')}; embed model: ${embed}; image ${values.image}`);

  const image = imageRunner(builder, values.image);
  try {
    console.log('every pipeline, in the image (as its transform.user, /pfs/out its own) and outside:');
    const rows = ordered.map((spec) => checkPipeline(spec, repos, runs, image));
    const w = Math.max(...rows.map((r) => r.pipeline.length));
    console.log(`  ${'pipeline'.padEnd(w)}  datums  files      bytes  outside s  image s  outputs`);
    for (const r of rows) {
      console.log(
        `  ${r.pipeline.padEnd(w)}  ${String(r.datums).padStart(6)}  ${String(r.files).padStart(5)}  ` +
          `${String(r.bytes).padStart(9)}  ${r.outside.toFixed(1).padStart(9)}  ${r.inside.toFixed(1).padStart(7)}  ` +
          `${r.ok ? 'identical' : 'FAIL'}`,
      );
    }
    console.log('pipelines with datum batching, one process in the image serving every datum (NextDatum):');
    const batched: boolean[] = [];
    for (const spec of ordered.filter((p) => p.transform.datumBatching))
      batched.push(await checkBatched(spec, repos, runs, image));
    console.log('every stage in the image with a root-owned /pfs/out (must fail at once, saying what to set):');
    const fails = ordered.map((spec) => checkRootOwnedOut(spec, repos, runs, image));
    const ok = rows.every((r) => r.ok) && batched.every(Boolean) && fails.every(Boolean);
    console.log(`check-stages: ${ok ? 'PASS' : 'FAIL'}`);
    return ok ? 0 : 1;
  } finally {
    image.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
