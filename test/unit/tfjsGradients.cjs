// Preloaded by `npm run test:unit` (node --require tsx/cjs --require ./test/unit/tfjsGradients.cjs) and by the
// unbuilt CLI / training child the tests start (procHelpers.ts entryArgs). src/engine/model/tf.ts imports
// '@tensorflow/tfjs-core/dist/register_all_gradients', an ES-module tree of ≈ 450 files (tfjs-core's CommonJS
// entry has no gradients). Under tsx each of them is transformed, cached and loaded on its own: ≈ 0.9 s of CPU in
// every test process that loads TensorFlow.js. This hook serves the same files as one esbuild bundle (the same
// code in the same order, as `npm run build` bundles it for the CLI), made once and kept in the bank cache's
// folder under a name keyed by the tfjs-core and esbuild versions; ≈ 10 ms to load. If the bundle cannot be made
// (no esbuild, unwritable folder), the module loads as before.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload (node --require) */
const Module = require('node:module');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REQUEST = '@tensorflow/tfjs-core/dist/register_all_gradients';
let bundled; // the bundle's path, null when it cannot be made, undefined before the first request

function makeBundle(parent) {
  const entry = resolve.call(Module, REQUEST, parent, false);
  const tfjsVersion = JSON.parse(fs.readFileSync(path.join(entry, '..', '..', 'package.json'), 'utf8')).version;
  const esbuild = require('esbuild');
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify([entry, tfjsVersion, esbuild.version, 1]))
    .digest('hex')
    .slice(0, 24);
  const env = process.env.INDUCTION_LAB_CACHE;
  const dir = env && env !== 'off' ? path.resolve(env) : path.join(os.tmpdir(), 'induction-lab-cache');
  const file = path.join(dir, `tfjs-gradients-${key}.cjs`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  // Test files start two at a time: each writes its own temp file and renames it into place (atomic).
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const out = esbuild.buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', write: false });
  fs.writeFileSync(tmp, out.outputFiles[0].contents);
  fs.renameSync(tmp, file);
  return file;
}

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, isMain, options) {
  if (request === REQUEST || request === `${REQUEST}.js`) {
    if (bundled === undefined) {
      try {
        bundled = makeBundle(parent);
      } catch {
        bundled = null;
      }
    }
    if (bundled) return bundled;
  }
  return resolve.call(this, request, parent, isMain, options);
};
