/**
 * Starts a worker thread on its bundle next to the caller's (`out/<bundle>`, what `npm run build` writes), or on
 * its TypeScript source under tsx when the engine runs unbundled (tests, `tsx src/engine/cli.ts`). An unbundled
 * engine whose environment names a build of the same sources (`INDUCTION_LAB_BUNDLES`, set by the unit-test
 * runner once it has checked out/ is newer than src/) starts the worker from that build: under tsx a worker
 * compiles the engine again (seconds of CPU), the bundle loads in ≈ 0.1 s.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker, WorkerOptions } from 'node:worker_threads';

/** `dir`: the caller's `__dirname` (the bundle's folder once bundled); `what` names the worker in the error. */
export function startWorker(dir: string, bundle: string, source: string, what: string, options: WorkerOptions): Worker {
  const js = path.join(dir, bundle);
  if (fs.existsSync(js)) return new Worker(js, options);
  const ts = path.join(dir, source);
  if (!fs.existsSync(ts)) throw new Error(`${what} not found next to ${dir} (run \`npm run build\`)`);
  const built = process.env.INDUCTION_LAB_BUNDLES && path.join(process.env.INDUCTION_LAB_BUNDLES, bundle);
  // The bundle needs none of the parent's preloads (tsx, the tests' gradients bundle).
  if (built && fs.existsSync(built)) return new Worker(built, { ...options, execArgv: [] });
  // Register tsx in the worker, then load the source. (A name in a variable, so the bundler leaves this
  // development-only path alone.)
  const loader = 'tsx/cjs';
  const code = `require(${JSON.stringify(require.resolve(loader))}); require(${JSON.stringify(ts)});`;
  return new Worker(code, { ...options, eval: true });
}
