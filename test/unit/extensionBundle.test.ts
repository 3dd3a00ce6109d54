// The extension host never loads TensorFlow.js (issue 16 part 4): TF.js and the engine run in forked children,
// so a VS Code window pays neither its start-up nor its memory. Checked two ways: the bundle's module graph
// (esbuild's metafile, the same bundling as scripts/build.mjs) and the built out/extension.js loaded under a
// stub `vscode` module (what require.cache holds afterwards). The engine's own bundles load TF.js on first use
// (src/engine/model/tf.ts): the CLI is checked not to load it for --help or a run on the fast engine.
// Run: node --import tsx --test test/unit/extensionBundle.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const ROOT = path.join(__dirname, '..', '..');
const TF = /(^|\/)node_modules\/@tensorflow\//;
/** scripts/build.mjs's options for the extension host bundle (node, cjs). */
const EXTENSION_BUILD: esbuild.BuildOptions & { metafile: true } = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  mainFields: ['module', 'main'],
  metafile: true,
  logLevel: 'silent',
};

/** The modules a bundle of `entry` pulls in (the extension entry of scripts/build.mjs, not written to disk). */
async function bundleInputs(entry: string): Promise<esbuild.Metafile['inputs']> {
  const r = await esbuild.build({
    ...EXTENSION_BUILD,
    entryPoints: [entry],
    external: ['vscode'],
    write: false,
    absWorkingDir: ROOT,
    outdir: path.join(os.tmpdir(), 'il-bundle-check'),
  });
  return r.metafile.inputs;
}

/** One import chain from the entry to the first TF.js module, e.g. "src/extension.ts → src/engine/model/tf.ts → …". */
function chainToTf(inputs: esbuild.Metafile['inputs']): string | null {
  const entry = Object.keys(inputs).find(
    (k) => !k.includes('node_modules') && !Object.values(inputs).some((v) => v.imports.some((i) => i.path === k)),
  );
  if (!entry) return null;
  const from = new Map<string, string>([[entry, '']]);
  const queue = [entry];
  while (queue.length > 0) {
    const at = queue.shift()!;
    if (TF.test(at)) {
      const chain: string[] = [];
      for (let x = at; x; x = from.get(x)!) chain.unshift(x);
      return chain.join(' → ');
    }
    for (const i of inputs[at]?.imports ?? []) {
      if (inputs[i.path] && !from.has(i.path)) {
        from.set(i.path, at);
        queue.push(i.path);
      }
    }
  }
  return null;
}

test('the extension host bundle imports no TensorFlow.js module', async () => {
  const inputs = await bundleInputs(path.join(ROOT, 'src/extension.ts'));
  assert.ok(
    Object.keys(inputs).some((k) => k.endsWith('src/extension.ts')),
    'the metafile lists the entry',
  );
  assert.ok(
    Object.keys(inputs).some((k) => k.includes('src/engine/io/')),
    'it reads run folders through engine/io',
  );
  const tf = Object.keys(inputs).filter((k) => TF.test(k));
  assert.deepEqual(tf, [], `TensorFlow.js in the extension bundle: ${chainToTf(inputs)}`);
});

/**
 * Loads a bundle in a fresh process with `vscode` resolved to a stub (every property a callable proxy) and
 * reports what TF.js would leave behind: module files of @tensorflow in require.cache (an external require)
 * and TF.js's engine global `_tfengine` (TF.js code inlined in the bundle runs when its module initialises).
 */
function loadUnderStubVscode(bundle: string): { tfFiles: string[]; tfEngine: boolean; cached: string[] } {
  const script = `
    const Module = require('node:module');
    const stub = new Proxy(function () {}, { get: (t, k) => (k === '__esModule' ? false : stub), apply: () => stub,
      construct: () => stub });
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (req, ...rest) {
      return req === 'vscode' ? 'vscode' : resolve.call(this, req, ...rest);
    };
    require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub };
    const ext = require(${JSON.stringify(bundle)});
    if (typeof ext.activate !== 'function') throw new Error(${JSON.stringify(bundle)} + ' exports no activate()');
    const tfEngine = globalThis._tfengine != null;
    process.stdout.write(JSON.stringify({ cached: Object.keys(require.cache), tfEngine }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { cached: string[]; tfEngine: boolean };
  return { ...o, tfFiles: o.cached.filter((f) => /[\\/]@tensorflow[\\/]/.test(f)) };
}

test('the checks find TensorFlow.js when extension code imports engine code that loads it', async () => {
  // A stand-in extension entry importing the engine's TF.js wrapper and using it as it loads (the wrapper loads
  // TF.js on first use): both checks must flag it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bundle-check-'));
  try {
    const entry = path.join(dir, 'extension.ts');
    const tfModule = JSON.stringify(path.join(ROOT, 'src/engine/model/tf'));
    fs.writeFileSync(
      entry,
      `import { tf } from ${tfModule};\n` +
        'const backend = tf.getBackend();\n' +
        'export function activate(): string { return backend; }\n',
    );
    const built = await esbuild.build({
      ...EXTENSION_BUILD,
      entryPoints: [entry],
      external: ['vscode', '@tensorflow/tfjs-node'],
      absWorkingDir: ROOT,
      outfile: path.join(dir, 'extension.js'),
    });
    const chain = chainToTf(built.metafile.inputs) ?? '';
    assert.match(chain, /extension\.ts → src\/engine\/model\/tf\.ts → .*node_modules\/@tensorflow\//);
    assert.equal(loadUnderStubVscode(path.join(dir, 'extension.js')).tfEngine, true, "TF.js's engine global is set");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('loading the built out/extension.js (stub vscode) loads no TensorFlow.js', (t) => {
  const built = path.join(ROOT, 'out', 'extension.js');
  if (!fs.existsSync(built)) {
    t.skip('out/extension.js is not built (npm run build)');
    return;
  }
  const r = loadUnderStubVscode(built);
  assert.ok(r.cached.includes(built), 'the bundle itself is in require.cache');
  assert.deepEqual(r.tfFiles, []);
  assert.equal(r.tfEngine, false, "TF.js's engine global is not set");
});

/** Runs the built CLI with `args` and says whether out/tfjs.js (TensorFlow.js, loaded on first use) was loaded. */
function cliLoadsTfjs(cli: string, args: string[]): boolean {
  const probe = path.join(os.tmpdir(), `il-tfjs-probe-${process.pid}.cjs`);
  fs.writeFileSync(
    probe,
    `process.on('exit', () => process.stderr.write('\\nTFJS_LOADED=' + ` +
      `Object.keys(require.cache).some((f) => f.endsWith(require('node:path').sep + 'tfjs.js')) + '\\n'));\n`,
  );
  try {
    const r = spawnSync(process.execPath, ['--require', probe, cli, ...args], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const m = /\nTFJS_LOADED=(true|false)\n/.exec(r.stderr);
    assert.ok(m, r.stderr);
    return m[1] === 'true';
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

test('the CLI loads TensorFlow.js only to run it: not for --help, nor for a run on the fast engine', (t) => {
  const cli = path.join(process.env.INDUCTION_LAB_BUNDLES ?? path.join(ROOT, 'out'), 'cli.js');
  if (!fs.existsSync(cli)) {
    t.skip('out/cli.js is not built (npm run build)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-tfjs-lazy-'));
  try {
    assert.equal(cliLoadsTfjs(cli, ['--help']), false, '--help');
    const train = ['train', '--preset', 'smoke', '--sequences', '64', '--out', dir, '--run-id', 'r'];
    assert.equal(cliLoadsTfjs(cli, train), false, 'a smoke run (fast engine)');
    // The control: one sequence through the checkpoint on the TF.js engine loads it.
    const input = path.join(dir, 'in.json');
    const x = (k: number) => Array.from({ length: 512 }, (_, i) => Math.abs(Math.sin(i * (k + 1))));
    fs.writeFileSync(input, JSON.stringify({ exemplars: [[x(0), x(1), x(0)]], labels: [[0, 1]] }));
    const ckpt = path.join(dir, 'r', 'checkpoints', 'seq-64.safetensors');
    const forward = ['forward', ckpt, '--input', input, '--engine', 'tfjs', '--backend', 'cpu'];
    assert.equal(cliLoadsTfjs(cli, forward), true, 'forward on the TF.js engine');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
