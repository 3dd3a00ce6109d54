// The same mocha integration suite (test/vscode/suite) in VS Code desktop through @vscode/test-electron,
// for machines that have VS Code or can download it. Not used in CI here (no desktop VS Code can be
// installed on these machines): `npm run test:vscode` runs the suite in code-server instead.
//
//   npm run test:vscode:desktop                     # = npx tsx test/runTest.ts; downloads VS Code
//                                                   # stable into .vscode-test/
//   VSCODE_EXECUTABLE_PATH=/usr/bin/code npx tsx test/runTest.ts   # uses an installed VS Code
//   VSCODE_VERSION=1.85.0 npx tsx test/runTest.ts   # the oldest version package.json allows
import { runTests } from '@vscode/test-electron';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');

function node(script: string, ...args: string[]): void {
  const r = spawnSync(process.execPath, [path.join(root, script), ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`node ${script} failed (exit ${r.status ?? r.signal})`);
}

async function main(): Promise<void> {
  node('scripts/build.mjs');
  node('scripts/vscode-e2e/build-suite.mjs');
  const tmp = mkdtempSync(path.join(tmpdir(), 'induction-lab-test-electron-'));
  const workspace = path.join(tmp, 'workspace');
  node('scripts/vscode-e2e/fixture.mjs', workspace);
  try {
    await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'out', 'test', 'suite', 'index.js'),
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE_PATH || undefined,
      version: process.env.VSCODE_VERSION || undefined,
      // runTests adds --disable-workspace-trust, --skip-welcome, --skip-release-notes, --disable-updates.
      launchArgs: [workspace, '--disable-extensions', `--user-data-dir=${path.join(tmp, 'user-data')}`],
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
