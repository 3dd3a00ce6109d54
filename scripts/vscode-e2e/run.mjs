// `npm run test:vscode`: the extension in a real VS Code (code-server 4.139.1, VS Code 1.139) driven by
// Chromium. Steps: install into .cache/vscode-e2e/ on first use → build → write a fixture workspace →
// (1) the mocha suite inside the real extension host, (2) a UI pass against the development extension,
// (3) package a .vsix, install it into a fresh code-server and repeat the UI pass. Screenshots and, on a
// failure, logs land in test-results/vscode/. Every process started here is stopped on the way out,
// also on failure and on SIGINT/SIGTERM. The last line is `N passed, N failed`; exit 1 on any failure.
//
// Options: --no-vsix (skip the packaged pass), --no-suite (skip the mocha suite), --keep-temp (keep the temp
// dir with the servers' logs).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { buildSuite } from './build-suite.mjs';
import { installExtension, killAllSync, startCodeServer } from './code-server.mjs';
import { writeFixtureWorkspace } from './fixture.mjs';
import { ensureInstalled, repoRoot } from './install.mjs';
import { packageVsix } from './package-vsix.mjs';
import { runSuitePass } from './suite-pass.mjs';
import { runUiPass } from './ui-pass.mjs';
import { untrusted } from './ui/untrusted.mjs';

const argv = new Set(process.argv.slice(2));
const withVsix = !argv.has('--no-vsix');
const keepTemp = argv.has('--keep-temp');
const withSuite = !argv.has('--no-suite');
const resultsDir = join(repoRoot, 'test-results', 'vscode');
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const log = (msg) => console.log(`[vscode-e2e] ${msg}`);
const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

// ---- cleanup: every started resource registers how to stop it; run in reverse order exactly once ----
const cleanups = [];
let cleaning;
/** Set by SIGINT/SIGTERM: nothing new starts after it. */
let aborted;
/** Chromium's process (group leader) while it runs. */
let browserPid;
function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        console.error(`[vscode-e2e] cleanup: ${err?.message ?? err}`);
      }
    }
  })();
  return cleaning;
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    if (aborted) return;
    aborted = signal;
    console.error(`\n[vscode-e2e] ${signal}: stopping everything started`);
    cleanup().finally(() => process.exit(code));
  });
}
// Last resort if the process ends without the async cleanup (uncaught error, process.exit elsewhere):
// kill every server group still alive (including one still starting) and drop the temp dir.
process.on('exit', () => {
  killAllSync('SIGKILL');
  if (browserPid) {
    try {
      process.kill(-browserPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (tmpRoot && !keepTemp) rmSync(tmpRoot, { recursive: true, force: true });
});

function checkAborted() {
  if (aborted) throw new Error(`stopped by ${aborted}`);
}

/** On a failure, keep the server's own log and its log folder (extension host, remote agent). */
function keepServerLogs(server, name) {
  try {
    if (existsSync(server.log)) cpSync(server.log, join(resultsDir, `${name}-code-server.log`));
    const logs = join(server.dirs.userData, 'logs');
    if (existsSync(logs)) cpSync(logs, join(resultsDir, `${name}-server-logs`), { recursive: true });
  } catch (err) {
    console.error(`[vscode-e2e] could not keep the ${name} logs: ${err?.message ?? err}`);
  }
}

/** Runs `fn(server)` against a fresh code-server; `fn` returns false on failure to keep the logs. */
async function withServer(dir, options, fn) {
  checkAborted();
  const t0 = Date.now();
  const server = await startCodeServer(toolchain, dir, options);
  const stop = () => server.stop();
  cleanups.push(stop);
  checkAborted();
  log(`code-server ${relative(tmpRoot, dir)} up on 127.0.0.1:${server.port} (pid group ${server.pid}) in ${secs(t0)}`);
  let ok = false;
  try {
    ok = (await fn(server)) !== false;
  } finally {
    if (!ok) keepServerLogs(server, relative(tmpRoot, dir).replace(/^server-/, ''));
    await stop();
  }
}

// ---- main ----
const tStart = Date.now();
const counts = { passed: 0, failed: 0 };
const failures = [];
const record = (name, ok, error) => {
  if (ok) counts.passed++;
  else {
    counts.failed++;
    failures.push(error ? `${name}: ${error}` : name);
  }
};

let toolchain;
let tmpRoot;
try {
  toolchain = ensureInstalled();

  let t0 = Date.now();
  const build = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error(`node scripts/build.mjs failed (exit ${build.status ?? build.signal})`);
  await buildSuite(repoRoot);
  log(`built extension and suite in ${secs(t0)}`);

  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  tmpRoot = mkdtempSync(join(tmpdir(), 'induction-lab-vscode-e2e-'));
  cleanups.push(() => (keepTemp ? log(`kept ${tmpRoot}`) : rmSync(tmpRoot, { recursive: true, force: true })));
  const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;

  checkAborted();
  // launchServer rather than launch: it hands out the browser's process, whose group is killed on exit.
  const { chromium } = createRequire(import.meta.url)(toolchain.playwrightCore);
  const browserServer = await chromium.launchServer({
    executablePath: toolchain.chromium,
    args: CHROMIUM_FLAGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  browserPid = browserServer.process().pid;
  cleanups.push(async () => {
    await browserServer.close().catch(() => {});
    await browserServer.kill().catch(() => {});
    browserPid = undefined;
  });
  const browser = await chromium.connect(browserServer.wsEndpoint());
  cleanups.push(() => browser.close().catch(() => {}));

  // (1): the mocha suite, in a server with the smoke-test driver (it enables the test payload).
  if (withSuite)
    await withServer(join(tmpRoot, 'server-suite'), { smokeTestDriver: true }, async (server) => {
      t0 = Date.now();
      log('mocha suite in the extension host:');
      const workspace = writeFixtureWorkspace(join(tmpRoot, 'workspace-suite'));
      const suite = await runSuitePass({ browser, server, workspace, extensionPath: repoRoot, resultsDir });
      counts.passed += suite.passed;
      counts.failed += suite.failed;
      if (suite.error) failures.push(`mocha suite: ${suite.error}`);
      else if (suite.failed > 0 || suite.exitCode !== 0)
        failures.push(`mocha suite: ${suite.failed} failed (exit ${suite.exitCode})`);
      log(`mocha suite: ${suite.passed} passed, ${suite.failed} failed, ${suite.pending} pending in ${secs(t0)}`);
      return !suite.error && suite.failed === 0 && suite.exitCode === 0;
    });

  // (2): the UI pass against the development extension: an Extension Development Host, which code-server
  // opens from the payload only with the smoke-test driver (that driver also hides notification toasts).
  await withServer(join(tmpRoot, 'server-dev'), { smokeTestDriver: true }, async (server) => {
    t0 = Date.now();
    log('UI pass, development extension:');
    const ui = await runUiPass({
      browser,
      server,
      pass: 'dev',
      resultsDir,
      version,
      workspace: writeFixtureWorkspace(join(tmpRoot, 'workspace-ui-dev')),
      extensionDevelopmentPath: repoRoot,
      toasts: false,
    });
    for (const s of ui.passed) record(`UI dev: ${s}`, true);
    for (const f of ui.failed) record(`UI dev: ${f.step}`, false, f.error);
    log(`UI pass (dev) in ${secs(t0)}`);
    return ui.failed.length === 0;
  });

  // (2b): workspace trust on: the development extension in Restricted Mode refuses to train.
  await withServer(join(tmpRoot, 'server-untrusted'), { smokeTestDriver: true, trust: true }, async (server) => {
    t0 = Date.now();
    log('UI pass, untrusted workspace (development extension):');
    const ui = await runUiPass({
      browser,
      server,
      pass: 'untrusted',
      resultsDir,
      version,
      sections: [untrusted],
      workspace: writeFixtureWorkspace(join(tmpRoot, 'workspace-ui-untrusted')),
      extensionDevelopmentPath: repoRoot,
      toasts: false,
    });
    for (const s of ui.passed) record(`UI untrusted: ${s}`, true);
    for (const f of ui.failed) record(`UI untrusted: ${f.step}`, false, f.error);
    log(`UI pass (untrusted) in ${secs(t0)}`);
    return ui.failed.length === 0;
  });

  // (3): the packaged extension, installed with --install-extension into a fresh server.
  if (withVsix) {
    checkAborted();
    t0 = Date.now();
    const vsixDir = join(tmpRoot, 'server-vsix');
    let stage = 'package .vsix';
    let installed = false;
    try {
      const { file, bytes } = packageVsix({
        root: repoRoot,
        outFile: join(tmpRoot, `induction-lab-${version}.vsix`),
        log,
      });
      record('package .vsix', true);
      log(`vsix ${(bytes / 2 ** 20).toFixed(1)} MiB in ${secs(t0)}`);
      stage = 'install .vsix into code-server';
      log(installExtension(toolchain, vsixDir, file).split('\n').filter(Boolean).at(-1) ?? 'installed');
      record('install .vsix into code-server', true);
      installed = true;
    } catch (err) {
      record(stage, false, err?.message ?? String(err));
      console.error(`[vscode-e2e] ${err?.message ?? err}`);
    }
    if (installed) {
      await withServer(vsixDir, {}, async (server) => {
        t0 = Date.now();
        log('UI pass, packaged extension (.vsix):');
        const ui = await runUiPass({
          browser,
          server,
          pass: 'vsix',
          resultsDir,
          version,
          workspace: writeFixtureWorkspace(join(tmpRoot, 'workspace-ui-vsix')),
        });
        for (const s of ui.passed) record(`UI vsix: ${s}`, true);
        for (const f of ui.failed) record(`UI vsix: ${f.step}`, false, f.error);
        log(`UI pass (vsix) in ${secs(t0)}`);
        return ui.failed.length === 0;
      });
    }
  }
} catch (err) {
  record('harness', false, err?.stack ?? String(err));
  console.error(`[vscode-e2e] ${err?.stack ?? err}`);
} finally {
  await cleanup();
}

log(`screenshots and logs: ${relative(process.cwd(), resultsDir) || resultsDir}`);
log(`total ${secs(tStart)}`);
if (failures.length) {
  console.log('\nFailures:');
  for (const f of failures) console.log(`  - ${f}`);
}
console.log(`${counts.passed} passed, ${counts.failed} failed`);
process.exitCode = counts.failed > 0 || failures.length > 0 ? 1 : 0;
