// Starts code-server (a real VS Code with a Node extension host) on loopback with every folder it writes to
// inside a temp dir, in its own process group so one group kill stops it and its extension hosts.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';

/** User settings that keep the workbench quiet and quick to hover (measured, see shared notes). */
export const USER_SETTINGS = {
  'workbench.startupEditor': 'none',
  'chat.disableAIFeatures': true,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'telemetry.telemetryLevel': 'off',
  'workbench.hover.delay': 300,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  // Measures over training on 200 dense sequences: the UI pass's influence matrices take seconds, not minutes.
  'inductionLab.measureSubsample': 200,
};

/** Process groups of servers started and not yet stopped: killAllSync() is the last resort on exit. */
const liveGroups = new Set();

export function killAllSync(signal = 'SIGKILL') {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, signal);
    } catch {
      /* already gone */
    }
  }
  liveGroups.clear();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Folders for one code-server instance under `dir`. */
export function serverDirs(dir) {
  return {
    dir,
    config: join(dir, 'config.yaml'),
    userData: join(dir, 'user-data'),
    extensions: join(dir, 'extensions'),
    log: join(dir, 'code-server.log'),
  };
}

function serverEnv(toolchain) {
  // Node 24 first on PATH so anything spawned by name (and the training child) finds the same Node.
  const env = { ...process.env, PATH: dirname(toolchain.node) + delimiter + process.env.PATH };
  // Do not leak the outer npm/VS Code context into the server and its extension hosts.
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('VSCODE_')) delete env[k];
  return env;
}

/** Settings that turn workspace trust on (Restricted Mode without the start-up prompt). */
const TRUST_SETTINGS = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.untrustedFiles': 'open',
};

function prepareDirs(d, trust = false) {
  mkdirSync(join(d.userData, 'User'), { recursive: true });
  mkdirSync(d.extensions, { recursive: true });
  // Always pass --config: without it code-server writes into the home folder.
  writeFileSync(d.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  writeFileSync(
    join(d.userData, 'User', 'settings.json'),
    JSON.stringify({ ...USER_SETTINGS, ...(trust ? TRUST_SETTINGS : {}) }, null, 2) + '\n',
  );
}

function commonArgs(d) {
  return ['--config', d.config, '--user-data-dir', d.userData, '--extensions-dir', d.extensions];
}

/** `code-server --install-extension <vsix>` into the instance's extensions dir. */
export function installExtension(toolchain, dir, vsix) {
  const d = serverDirs(dir);
  prepareDirs(d);
  const r = spawnSync(
    toolchain.node,
    [toolchain.codeServer, ...commonArgs(d), '--install-extension', vsix, '--force'],
    {
      env: serverEnv(toolchain),
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`code-server --install-extension failed (exit ${r.status ?? r.signal}):\n${out}`);
  return out.trim();
}

/**
 * Starts code-server and waits until it answers. Returns { port, url(), pid, log, stop() }; stop() is
 * idempotent, and killGroupSync() is there for process 'exit' handlers. `smokeTestDriver` is needed for
 * the test payload (extensionTestsPath) but hides notification toasts, so UI passes run without it.
 */
/** `trust: true` keeps workspace trust on (the untrusted-workspace check); the default turns it off. */
export async function startCodeServer(toolchain, dir, { smokeTestDriver = false, trust = false } = {}) {
  const d = serverDirs(dir);
  prepareDirs(d, trust);
  const port = await freePort();
  const logFd = openSync(d.log, 'a');
  const child = spawn(
    toolchain.node,
    [
      toolchain.codeServer,
      ...commonArgs(d),
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      ...(trust ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--ignore-last-opened',
      // Without it the test payload (extensionTestsPath) is silently ignored.
      ...(smokeTestDriver ? ['--vscode-option', 'enable-smoke-test-driver'] : []),
    ],
    { detached: true, stdio: ['ignore', logFd, logFd], env: serverEnv(toolchain) },
  );
  closeSync(logFd);
  const pid = child.pid;
  liveGroups.add(pid);
  let exited = false;
  child.on('exit', () => (exited = true));

  const groupAlive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const killGroupSync = (signal = 'SIGKILL') => {
    try {
      process.kill(-pid, signal);
    } catch {
      /* already gone */
    }
  };
  let stopping;
  const stop = () =>
    (stopping ??= (async () => {
      killGroupSync('SIGTERM');
      for (let i = 0; i < 50 && groupAlive(); i++) await sleep(100);
      if (groupAlive()) killGroupSync('SIGKILL');
      for (let i = 0; i < 20 && groupAlive(); i++) await sleep(100);
      liveGroups.delete(pid);
    })());

  const server = {
    port,
    pid,
    dirs: d,
    log: d.log,
    stop,
    killGroupSync,
    /** Workbench URL opening `folder` with a test payload (array of [key, value] pairs). */
    url(folder, payload) {
      const q = new URLSearchParams({ folder });
      if (payload) q.set('payload', JSON.stringify(payload));
      return `http://127.0.0.1:${port}/?${q}`;
    },
    /** A path on the server's file system as the workbench addresses it. */
    remoteUri(absPath) {
      return `vscode-remote://127.0.0.1:${port}${absPath}`;
    },
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`code-server exited during start-up; log:\n${tail(d.log)}`);
    }
    if (await healthy(port)) return server;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on 127.0.0.1:${port} within 60 s; log:\n${tail(d.log)}`);
    }
    await sleep(200);
  }
}

async function healthy(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

export function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
