// Mocha entry for the integration tests that run inside a real VS Code extension host. Both runners load
// it: `npm run test:vscode` (code-server, scripts/vscode-e2e/) and test/runTest.ts (@vscode/test-electron,
// for machines with VS Code desktop). It runs every `*.test.js` bundled next to it.
import Mocha from 'mocha';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';

/** The harness parses this line for the pass/fail counts. */
export const RESULT_MARKER = '[induction-lab-suite-result]';

/**
 * Set by the code-server harness (through the payload's extensionEnvironment): mark each line of mocha's
 * output so the harness can tell it from the workbench's own console noise it relays alongside.
 */
const RELAY_PREFIX = process.env.INDUCTION_LAB_SUITE_PREFIX ?? '';

export function run(): Promise<void> {
  // The extension host forwards console.log unformatted ("%s (%dms)" + args): format here, line by line.
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => {
    for (const line of format(...args).split('\n')) console.log(RELAY_PREFIX + line);
  };
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 30_000 });
  for (const file of fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort()) {
    mocha.addFile(path.join(__dirname, file));
  }
  return new Promise((resolve, reject) => {
    try {
      const runner = mocha.run((failures) => {
        const { passes = 0, failures: failed = 0, pending = 0 } = runner.stats ?? {};
        console.log(`${RELAY_PREFIX}${RESULT_MARKER} ${JSON.stringify({ passed: passes, failed, pending })}`);
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed.`));
        else resolve();
      });
    } catch (err) {
      console.error(err);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
