/**
 * The one place TensorFlow.js is loaded and a backend chosen. tfjs-core's CommonJS entry registers no
 * gradients, so they are registered explicitly. Backend order: tfjs-node (native libtensorflow, an
 * optional dependency that cannot install everywhere), then WebAssembly, then plain-JS CPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';

export { tf };

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
      setWasmPaths(dir.endsWith('/') ? dir : dir + '/');
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
      current = { name, skipped, tfjsVersion: tf.version_core };
      return current;
    }
    skipped.push(`${name}: ${why}`);
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${skipped.join('; ')})`);
}
