// One esbuild script, three kinds of bundle: the extension host (node, cjs, `vscode` external), the
// training child + CLI (node, cjs, its own bundle so TensorFlow.js never loads in the extension host; TF.js
// itself is out/tfjs.js, loaded on first use), and the webviews (browser, iife). `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const common = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  mainFields: ['module', 'main'],
};

const node = { ...common, platform: 'node', format: 'cjs', target: 'node20' };
/**
 * The engine bundles leave TensorFlow.js out: src/engine/model/tf.ts requires model/tfjsRuntime.ts on first use,
 * and here that require becomes one of out/tfjs.js, the runtime's own bundle (built below), so a process that never
 * uses TF.js never loads it.
 */
const tfjsApart = {
  name: 'tfjs-apart',
  setup(build) {
    build.onResolve({ filter: /^\.\/tfjsRuntime$/ }, () => ({ path: './tfjs.js', external: true }));
  },
};
const builds = [
  { ...node, entryPoints: { extension: 'src/extension.ts' }, outdir: 'out', external: ['vscode'] },
  // tfjs-node is optional (it cannot install everywhere) and native: never bundled, required at run time.
  // llc-worker: the LLC sampler's worker threads (src/engine/llc/pool.ts finds it next to cli.js);
  // eval-worker: a training run's evaluation thread (src/engine/train/evalThread.ts, next to child.js / cli.js).
  {
    ...node,
    entryPoints: {
      child: 'src/engine/child.ts',
      cli: 'src/engine/cli.ts',
      'llc-worker': 'src/engine/llc/worker.ts',
      'eval-worker': 'src/engine/train/evalWorker.ts',
    },
    outdir: 'out',
    external: ['@tensorflow/tfjs-node', 'h5wasm'],
    plugins: [tfjsApart],
  },
  { ...node, entryPoints: { tfjs: 'src/engine/model/tfjsRuntime.ts' }, outdir: 'out' },
  {
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    entryPoints: Object.fromEntries(webviewEntries().map((f) => [f.replace(/\.ts$/, ''), join('src/webview', f)])),
    outdir: 'out/webview',
  },
  // h5wasm's Node build (ESM, its wasm embedded) as one ES module next to the child: the child imports it
  // only when it reads an .h5 feature file, and the .vsix then needs no node_modules at all.
  {
    ...node,
    format: 'esm',
    sourcemap: false,
    minify: true,
    entryPoints: { h5wasm: 'node_modules/h5wasm/dist/node/hdf5_hl.js' },
    outdir: 'out',
    outExtension: { '.js': '.mjs' },
  },
]
  .map((b) => ({
    ...b,
    entryPoints: Object.fromEntries(Object.entries(b.entryPoints).filter(([, p]) => existsSync(p))),
  }))
  .filter((b) => Object.keys(b.entryPoints).length > 0);

function webviewEntries() {
  const dir = 'src/webview';
  if (!existsSync(dir)) return [];
  // Each `*.view.ts` is one webview app; other files are shared modules.
  return readdirSync(dir).filter((f) => f.endsWith('.view.ts'));
}

function copyWasm() {
  // The wasm backend loads its .wasm files from disk; ship them next to the child bundle.
  const src = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
  mkdirSync('out/wasm', { recursive: true });
  for (const f of readdirSync(src).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(src, f), join('out/wasm', f));
}

copyWasm();
if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
