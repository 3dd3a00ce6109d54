/**
 * UI state kept with `getState`/`setState`, so a reloaded or restored view comes back as it was. Saved
 * values are only taken when their type matches the default's (old or foreign state is ignored).
 */
import type { FromWebviewMessage } from '../../shared/webviewProtocol';
import { vscodeApi } from './vscodeApi';

export interface Persisted<T> {
  readonly value: T;
  update(patch: Partial<T>): void;
}

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
      const d = defaults[k],
        v = s[k];
      if (d === null ? v === null || typeof v === 'number' || typeof v === 'string' : v !== null && sameKind(d, v))
        out[k] = v;
    }
  }
  return out as T;
}

/**
 * Preferences shared by every view of the session (e.g. the figure background), saved under `__prefs`
 * beside the view's state and sent to the host, which hands them to views opened later (`prefs`).
 */
let prefs: Record<string, unknown> = {};
let viewState: Record<string, unknown> = {};
/** Whether the view started without saved state (a new panel, not a restored one). */
let fresh = true;
const save = () => vscodeApi().setState({ ...viewState, __prefs: prefs });
const prefListeners: Array<() => void> = [];

export function persisted<T extends Record<string, unknown>>(defaults: T): Persisted<T> {
  const saved = vscodeApi().getState();
  fresh = saved === undefined || saved === null;
  let value = restoreState(defaults, saved);
  const p = (saved as { __prefs?: unknown } | undefined)?.__prefs;
  if (typeof p === 'object' && p !== null && !Array.isArray(p)) prefs = { ...(p as Record<string, unknown>) };
  viewState = value;
  return {
    get value() {
      return value;
    },
    update(patch) {
      value = { ...value, ...patch };
      viewState = value;
      save();
    },
  };
}

/** A saved preference of type `typeof fallback`; `allowed` restricts string values. */
export function pref<T extends string | number | boolean>(
  key: string,
  fallback: T,
  allowed?: readonly T[],
): { get(): T; set(v: T): void } {
  return {
    get() {
      const v = prefs[key];
      return typeof v === typeof fallback && (!allowed || allowed.includes(v as T)) ? (v as T) : fallback;
    },
    set(v) {
      prefs = { ...prefs, [key]: v };
      save();
      const message: FromWebviewMessage = { type: 'prefs', prefs: prefs as Record<string, string | number | boolean> };
      vscodeApi().postMessage(message);
    },
  };
}

/** Calls `cb` when the host's preferences were adopted (see applyHostPrefs). */
export function onPrefs(cb: () => void): void {
  prefListeners.push(cb);
}

/** The host's session preferences: a fresh view adopts them (a restored view keeps its own). */
export function applyHostPrefs(p: Record<string, string | number | boolean>): boolean {
  if (!fresh) return false;
  prefs = { ...prefs, ...p };
  save();
  for (const cb of prefListeners) cb();
  return true;
}
