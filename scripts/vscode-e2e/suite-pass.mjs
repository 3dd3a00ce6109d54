// Runs the mocha integration suite inside code-server's real extension host: the workbench is opened with
// a test payload (extensionDevelopmentPath + extensionTestsPath); the workbench relays the extension
// host's log through `codeAutomationLog` and reports the exit code through `codeAutomationExit`.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RESULT_MARKER = '[induction-lab-suite-result]'; // test/vscode/suite/index.ts
/** The suite prefixes its own lines with this (INDUCTION_LAB_SUITE_PREFIX); the rest is workbench noise. */
const PREFIX = '[induction-lab-suite] ';

/**
 * @returns {Promise<{ passed: number, failed: number, pending: number, exitCode: number, error?: string }>}
 */
export async function runSuitePass({ browser, server, workspace, extensionPath, resultsDir, timeoutMs = 300_000 }) {
  mkdirSync(resultsDir, { recursive: true });
  // Everything the workbench logs (GitHub auth time-outs, open-vsx look-ups, …) goes to this file.
  const consoleLog = join(resultsDir, 'suite-workbench-console.log');
  writeFileSync(consoleLog, '');
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  let counts;
  let onExit;
  const exited = new Promise((resolve) => (onExit = resolve));
  try {
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const text = Array.isArray(args) ? args.map(String).join(' ') : String(args ?? '');
      for (const line of text.split('\n')) {
        const at = line.indexOf(PREFIX);
        if (at < 0) {
          appendFileSync(consoleLog, `[${type}] ${line}\n`);
          continue;
        }
        const own = line.slice(at + PREFIX.length);
        if (own.startsWith(RESULT_MARKER)) {
          try {
            counts = JSON.parse(own.slice(RESULT_MARKER.length));
          } catch {
            /* malformed: reported as missing below */
          }
        } else {
          process.stdout.write(`${own}\n`);
        }
      }
    });
    await page.exposeFunction('codeAutomationExit', (code, logs) => onExit({ code: Number(code), logs }));
    const payload = [
      ['extensionDevelopmentPath', server.remoteUri(extensionPath)],
      ['extensionTestsPath', server.remoteUri(join(extensionPath, 'out', 'test', 'suite', 'index.js'))],
      ['extensionEnvironment', JSON.stringify({ INDUCTION_LAB_SUITE_PREFIX: PREFIX })],
    ];
    // A loaded machine can take more than the default 30 s to serve the workbench.
    await page.goto(server.url(workspace, payload), { timeout: 120_000 });
    const timer = new Promise((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref());
    const result = await Promise.race([exited, timer]);
    if (!result) {
      await saveFailure(page, resultsDir, 'suite-timeout');
      return {
        passed: counts?.passed ?? 0,
        failed: Math.max(1, counts?.failed ?? 0),
        pending: 0,
        exitCode: -1,
        error: `mocha suite did not finish within ${timeoutMs / 1000} s`,
      };
    }
    if (result.code !== 0) saveLogs(resultsDir, 'suite', result.logs);
    if (!counts) {
      return {
        passed: 0,
        failed: 1,
        pending: 0,
        exitCode: result.code,
        error: `the suite ended (exit ${result.code}) without reporting results: did index.js load?`,
      };
    }
    return { ...counts, exitCode: result.code };
  } finally {
    await context.close().catch(() => {});
  }
}

async function saveFailure(page, resultsDir, name) {
  mkdirSync(resultsDir, { recursive: true });
  await page.screenshot({ path: join(resultsDir, `${name}.png`) }).catch(() => {});
}

/** The workbench hands its logs (extension host etc.) to codeAutomationExit; keep them on failure. */
function saveLogs(resultsDir, name, logs) {
  if (!Array.isArray(logs)) return;
  const dir = join(resultsDir, `${name}-logs`);
  for (const { relativePath, contents } of logs) {
    if (typeof relativePath !== 'string' || relativePath.includes('..')) continue;
    const file = join(dir, relativePath);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, contents ?? '');
  }
}
