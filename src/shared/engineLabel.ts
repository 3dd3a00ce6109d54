/**
 * The one label the UI shows for what trained a run (contracts.md §1), from run.json's or a StartedMessage's
 * fields: "fast engine (WebAssembly SIMD, relaxed)" or "TensorFlow.js (wasm backend)" — never a bare "wasm",
 * which a reader takes for the TF.js wasm backend. New runs write `engine: "fast" | "tfjs"`, `engineDetail`
 * and `backend` (null for the fast engine); old runs wrote `engine: "fast (wasm relaxed)"` / `"tfjs (wasm)"`
 * and `backend: "wasm"`, or only `backend` (before the fast engine existed). No runtime imports.
 */

const BACKEND_NAMES: Record<string, string> = { tensorflow: 'native TensorFlow', wasm: 'wasm', cpu: 'cpu' };

/** "WebAssembly SIMD (relaxed)" → "WebAssembly SIMD, relaxed": no parentheses inside the label's own. */
const flat = (s: string) => s.trim().replace(/\s*\(([^()]*)\)\s*$/, ', $1');

function tfjsLabel(backend: unknown): string {
  return typeof backend === 'string' && backend
    ? `TensorFlow.js (${BACKEND_NAMES[backend] ?? backend} backend)`
    : 'TensorFlow.js';
}

export function engineLabel(x: { engine?: unknown; engineDetail?: unknown; backend?: unknown }): string {
  const engine = typeof x.engine === 'string' ? x.engine.trim() : '';
  const detail = typeof x.engineDetail === 'string' && x.engineDetail.trim() ? x.engineDetail : undefined;
  if (engine === 'fast') return `fast engine (${flat(detail ?? 'WebAssembly SIMD')})`;
  if (engine === 'tfjs') return tfjsLabel(x.backend);
  // Old runs: "fast (wasm relaxed)", "fast (wasm simd)", "tfjs (wasm)".
  let m = /^fast\s*\(wasm\s*(\w*)\)$/i.exec(engine);
  if (m)
    return `fast engine (WebAssembly SIMD${m[1] && m[1].toLowerCase() !== 'simd' ? `, ${m[1].toLowerCase()}` : ''})`;
  if ((m = /^tfjs\s*\((\w+)\)$/i.exec(engine))) return tfjsLabel(m[1].toLowerCase());
  if (engine) return engine;
  // Before the fast engine existed, only the TF.js backend was recorded.
  if (typeof x.backend === 'string' && x.backend) return tfjsLabel(x.backend);
  return 'engine not recorded';
}
