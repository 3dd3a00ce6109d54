/**
 * The one place TensorFlow.js is loaded and a backend chosen. Backend order: tfjs-node (native libtensorflow, an
 * optional dependency that cannot install everywhere), then WebAssembly, then plain-JS CPU.
 *
 * TensorFlow.js loads on first use (model/tfjsRuntime.ts, bundled apart as out/tfjs.js): a process on the fast
 * engine, or one that stops at a bad argument, never reads, compiles or initialises it (≈ 0.1 s of CPU, a third of
 * a bare `induction-lab --help`). `tf` stands for the tfjs-core namespace and loads it when a member is read.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { version as tfjsCoreVersion } from '@tensorflow/tfjs-core/package.json';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';

type Runtime = typeof import('./tfjsRuntime');
let runtime: Runtime | null = null;
function loadRuntime(): Runtime {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use; scripts/build.mjs maps it to out/tfjs.js
  return (runtime ??= require('./tfjsRuntime') as Runtime);
}

/** The bundled tfjs-core's version (run.json records it), read without loading TensorFlow.js. */
export const TFJS_VERSION: string = tfjsCoreVersion;

/** tfjs-core, loaded when a member is first read. */
export const tf = new Proxy({} as typeof TfCore, {
  get: (_, key) => Reflect.get(loadRuntime().tf, key),
});
/**
 * `tf.customGrad(f)` as a function made on its first call: an op built when its module loads would load
 * TensorFlow.js with it. `F` is the op's signature (customGrad's own typing takes tensors and a save function).
 */
export function customGradOnFirstUse<F extends (...args: never[]) => TfCore.Tensor>(
  f: (...args: never[]) => { value: TfCore.Tensor; gradFunc: (...args: never[]) => TfCore.Tensor | TfCore.Tensor[] },
): F {
  let op: F | null = null;
  return ((...args: Parameters<F>) =>
    (op ??= tf.customGrad(f as Parameters<typeof TfCore.customGrad>[0]) as unknown as F)(...args)) as F;
}

/**
 * `tf.tidy(f)` for an `f` that returns host data (typed arrays, numbers) made inside it. tidy searches what it
 * returns for tensors to keep, element by element through every array (in a TF.js training step: every
 * gradient, every step), so the result goes out beside the tidy instead. Tensors made in `f` are disposed, as
 * with tidy; return none.
 */
export function tidyToHost<T>(f: () => T): T {
  let out: T | undefined;
  tf.tidy(() => {
    out = f();
  });
  return out as T;
}

/** The tfjs-core types the engine names as `tf.X` (a namespace of types only, merged with the value above). */
// eslint-disable-next-line @typescript-eslint/no-namespace -- `tf.Tensor` in type positions, as with `import * as tf`
export declare namespace tf {
  export type Tensor<R extends TfCore.Rank = TfCore.Rank> = TfCore.Tensor<R>;
  export type Tensor1D = TfCore.Tensor1D;
  export type Tensor2D = TfCore.Tensor2D;
  export type Tensor3D = TfCore.Tensor3D;
  export type Scalar = TfCore.Scalar;
  export type Variable<R extends TfCore.Rank = TfCore.Rank> = TfCore.Variable<R>;
  export type GradSaveFunc = TfCore.GradSaveFunc;
}

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;
/** Every accepted `--backend` value. */
export const BACKENDS: readonly string[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  name: BackendName;
  /** Why the better backends were not used, one line each. */
  skipped: string[];
  tfjsVersion: string;
}

let current: BackendInfo | null = null;

function wasmDir(): string | null {
  // Bundled: the build copies the .wasm files to out/wasm next to the bundle. Unbundled (tests): the package.
  const candidates = [join(__dirname, 'wasm'), join(__dirname, '..', 'wasm')];
  try {
    candidates.push(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'));
  } catch {
    /* not resolvable */
  }
  return candidates.find((d) => existsSync(join(d, 'tfjs-backend-wasm-simd.wasm'))) ?? null;
}

async function tryBackend(name: BackendName): Promise<string | null> {
  // PROD skips debug checks and silences the "install tfjs-node" banner: the run says which backend ran.
  tf.env().set('PROD', true);
  try {
    if (name === 'tensorflow') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional native addon, loaded only when asked
      require('@tensorflow/tfjs-node');
    } else if (name === 'wasm') {
      const dir = wasmDir();
      if (!dir) return 'the .wasm files of @tensorflow/tfjs-backend-wasm were not found';
      loadRuntime().setWasmPaths(dir.endsWith('/') ? dir : dir + '/');
    }
    const ok = await tf.setBackend(name);
    if (!ok) return `tf.setBackend('${name}') returned false`;
    await tf.ready();
    return null;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return /Cannot find module/.test(msg) ? 'not installed' : msg;
  }
}

/**
 * Forgets the remembered choice, so that the next `initBackend('auto')` chooses again as in a fresh process (the
 * unit-test runner runs several test files in one process: test/unit/sharedProcess.cjs).
 */
export function forgetBackendChoice(): void {
  current = null;
}

/** Picks the best backend that loads (or the preferred one) and remembers it for the process. */
export async function initBackend(pref: BackendPreference = 'auto'): Promise<BackendInfo> {
  if (current && (pref === 'auto' || pref === current.name)) return current;
  const order: BackendName[] = pref === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [pref];
  const skipped: string[] = [];
  for (const name of order) {
    const why = await tryBackend(name);
    if (why === null) {
      current = { name, skipped, tfjsVersion: TFJS_VERSION };
      return current;
    }
    skipped.push(`${name}: ${why}`);
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${skipped.join('; ')})`);
}
