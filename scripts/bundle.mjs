#!/usr/bin/env node
// The build's second step, after tsc: each process entry (every stage's main.js, the inference worker, the CLI) is
// rewritten in place as one file holding its whole import graph, zod's ~95 modules included. Node 20 loads an ES
// module graph file by file (resolve, stat, read, compile each): the ten stages' starts took 4.2 s of CPU together
// with ~150 files each, 3.2 s with one (scripts/bench/startup.ts --compare a tsc-only checkout), and ten stage
// processes start for every `tessella run`. Packages with native code, or loaded by path at run time, stay outside.
// Each module keeps its own import.meta.url (the file tsc wrote), so paths computed from it (the worker beside
// inference.js, the app folder) resolve as unbundled. A build without this step (tsc alone, `tsc --watch`) runs
// the same, only starts slower.
// zod is imported as a namespace (`import * as z`, a lint rule holds it): with the named import `{ z }` esbuild keeps
// every export of zod, its ~50 locales among them: 830 KB of merge's bundle against 266 KB, ~0.04 s of CPU per start.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

/**
 * Packages left to Node's own loader: native addons (CommonJS, every one) and what the code loads by path (tsx, an
 * ES package, in the inference worker's boot). protobufjs, plain JavaScript, is bundled: loaded by Node it read ~30
 * files, ~50 ms of CPU a process, and normalize's and embed's processes load it twice (their inference worker too).
 */
const COMMONJS_EXTERNAL = [
  'onnxruntime-node',
  'onnxruntime-common',
  'sharp',
  'koffi',
  'better-sqlite3',
  '@node-rs/crc32',
];
const EXTERNAL = [...COMMONJS_EXTERNAL, 'tsx'];

/**
 * The CommonJS externals loaded with require() (the banner's) in place of an ES import.
 * Node imports a CommonJS module into an ES one by first scanning its source for the names it exports, with a lexer
 * written in JavaScript that a long file makes hot enough to be optimized: importing @node-rs/crc32 (a 28 KB loader)
 * cost ~80 ms of CPU against ~10 ms through require(), onnxruntime-node ~60 against ~35 (a fresh process, the median
 * of nine). An import() stays one: what it loads is only loaded when called.
 */
function requireExternals() {
  const names = COMMONJS_EXTERNAL.map((e) => e.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|');
  const filter = new RegExp(`^(${names})(/.*)?$`);
  return {
    name: 'require-externals',
    setup(b) {
      b.onResolve({ filter }, (args) => {
        if (args.kind === 'dynamic-import') return { path: args.path, external: true };
        // the require() below, in the module made for the package
        if (args.namespace === 'required-external') return { path: args.path, external: true };
        return { path: args.path, namespace: 'required-external' };
      });
      b.onLoad({ filter: /.*/, namespace: 'required-external' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

function entries() {
  const stages = join(dist, 'stages');
  const mains = readdirSync(stages)
    .map((s) => join(stages, s, 'main.js'))
    .filter(existsSync);
  return [...mains, join(dist, 'shared', 'onnx', 'worker.js'), join(dist, 'app', 'cli.js')];
}

/**
 * A project module imported with import() stays a module of its own, loaded when called (the demo from the CLI): in
 * the bundle its packages would be imported at start, the CLI's start paying for what one verb uses.
 */
function keepDynamicImports(outfile) {
  return {
    name: 'keep-dynamic-imports',
    setup(b) {
      b.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        let path = relative(dirname(outfile), join(args.resolveDir, args.path)).split(sep).join('/');
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

/** import.meta.url of a bundled module: its own file's URL, written relative to the bundle's. */
function keepOwnUrl(outfile) {
  return {
    name: 'keep-own-url',
    setup(b) {
      b.onLoad({ filter: /\.js$/ }, (args) => {
        if (!args.path.startsWith(dist + sep)) return undefined;
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const rel = relative(dirname(outfile), args.path).split(sep).join('/');
        const own = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
        return { contents: text.replaceAll('import.meta.url', own), loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

// CommonJS packages bundled into an ES module still call require() for Node's built-ins
const banner =
  "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);";

const started = performance.now();
// an entry already bundled (this step run twice without tsc between) is left as it is
const files = entries().filter((f) => !readFileSync(f, 'utf8').startsWith(banner));
for (const file of files) {
  // read before writing over it: esbuild reads its inputs first, then writes the one output
  await build({
    entryPoints: [file],
    outfile: file,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    banner: { js: banner },
    sourcemap: 'linked',
    logLevel: 'error',
    plugins: [requireExternals(), keepDynamicImports(file), keepOwnUrl(file)],
  });
}
const ms = Math.round(performance.now() - started);
console.log(`bundled ${files.length} entries in dist/ in ${ms} ms`);
