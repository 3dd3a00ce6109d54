// Several test files in one process (scripts/run-unit.mjs makes a file that calls this with their paths): each
// file's tests and hooks inside a suite named after the file, the files one after the other. A process of its own
// costs every file ≈ 0.5–1.5 s of CPU before its tests do anything (node, tsx, TensorFlow.js, the engine's
// modules and WebAssembly compiled and warmed up again); sharing it halves the CPU of the small in-process files.
// Before each file the process-wide state a file could inherit is put back as a fresh process has it: the
// remembered TensorFlow.js backend (src/engine/model/tf.ts), the working folder and the environment. Files that
// must not share (run-unit.mjs OWN_PROCESS) get their own process.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS loader of the test files */
const path = require('node:path');
const { describe, before } = require('node:test');

const TF = path.join(__dirname, '..', '..', 'src', 'engine', 'model', 'tf.ts');

module.exports = function runFiles(files) {
  const cwd = process.cwd();
  const env = { ...process.env };
  for (const file of files) {
    describe(path.basename(file), () => {
      before(() => {
        process.chdir(cwd);
        for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
        Object.assign(process.env, env);
        require.cache[TF]?.exports.forgetBackendChoice();
      });
      require(file);
    });
  }
};
