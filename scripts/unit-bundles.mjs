// The engine bundles the unit tests start their processes and worker threads from (test/unit/procHelpers.ts
// entryArgs, src/engine/io/workerThread.ts): `npm run build`'s out/ when it is newer than every source file, else
// built first (≈ 4 s of wall), so that an edit is never tested through a stale bundle. Shared by the suite's
// runner (run-unit.mjs) and its profiler (profile-unit.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The bundles the tests use (scripts/build.mjs writes them with the rest). */
const ENGINE_BUNDLES = ['cli.js', 'child.js', 'eval-worker.js', 'llc-worker.js'];

/** Newest modification time of the files a bundle is built from (src/**, package.json). */
function newestSource(root) {
  let newest = statSync(join(root, 'package.json')).mtimeMs;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(root, 'src'));
  return newest;
}

/** Whether checkout `root`'s out/ holds every engine bundle, each newer than every source file. */
export function bundlesFresh(root) {
  const source = newestSource(root);
  return ENGINE_BUNDLES.every((b) => {
    const f = join(root, 'out', b);
    return existsSync(f) && statSync(f).mtimeMs >= source;
  });
}

/**
 * out/ of checkout `root` once its engine bundles are fresh (`npm run build` run first if they are not), or null
 * when the build fails (the tests then start the TypeScript sources under tsx: slower, still correct).
 */
export function freshBundles(root) {
  if (bundlesFresh(root)) return join(root, 'out');
  process.stderr.write('unit tests: out/ is older than src/: building it first (npm run build)\n');
  const r = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status === 0 && bundlesFresh(root)) return join(root, 'out');
  process.stderr.write('unit tests: the build failed; the tests start the engine from its sources (tsx)\n');
  return null;
}
