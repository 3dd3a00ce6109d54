// Bundles the integration suite (test/vscode/suite/*.ts → out/test/suite/*.js): the mocha entry with
// mocha inside it, and one file per `*.test.ts`; `vscode` stays external. Used by both runners.
import * as esbuild from 'esbuild';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUITE_SRC = 'test/vscode/suite';
export const SUITE_OUT = 'out/test/suite';

export async function buildSuite(root = process.cwd()) {
  const src = join(root, SUITE_SRC);
  const entries = readdirSync(src).filter((f) => f === 'index.ts' || f.endsWith('.test.ts'));
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: entries.map((f) => join(SUITE_SRC, f)),
    outdir: SUITE_OUT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    external: ['vscode'],
    logLevel: 'warning',
    // mocha's parallel mode (unused here) resolves worker files at run time.
    logOverride: { 'require-resolve-not-external': 'silent' },
  });
  return join(root, SUITE_OUT, 'index.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildSuite();
}
