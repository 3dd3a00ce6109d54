/**
 * UI state kept with `getState`/`setState`, so a reloaded or restored view comes back as it was. Saved
 * values are only taken when their type matches the default's (old or foreign state is ignored).
 */
import { vscodeApi } from './host';

export interface Persisted<T> { readonly value: T; update(patch: Partial<T>): void }

function sameKind(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b);
  return typeof a === typeof b;
}

/** Merges saved state into defaults. Keys whose default is null accept number|string|null. Pure. */
export function restoreState<T extends Record<string, unknown>>(defaults: T, saved: unknown): T {
  const out: Record<string, unknown> = { ...defaults };
  if (typeof saved === 'object' && saved !== null) {
    const s = saved as Record<string, unknown>;
    for (const k of Object.keys(defaults)) {
      if (!(k in s)) continue;
      const d = defaults[k], v = s[k];
      if (d === null ? v === null || typeof v === 'number' || typeof v === 'string' : v !== null && sameKind(d, v)) out[k] = v;
    }
  }
  return out as T;
}

export function persisted<T extends Record<string, unknown>>(defaults: T): Persisted<T> {
  let value = restoreState(defaults, vscodeApi().getState());
  return {
    get value() { return value; },
    update(patch) {
      value = { ...value, ...patch };
      vscodeApi().setState(value);
    },
  };
}
