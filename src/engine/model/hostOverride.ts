/**
 * An override of one named site held in plain arrays: where mask[i] is 1 the site takes value[i].
 * Constant clamps (ablation, fixed patterns) are built as host overrides once, so every engine (the
 * TensorFlow.js reference and the hand-written fast path) applies exactly the same numbers. An override is
 * a value: never change one after building it (the fast engine keeps the one it loaded and skips copying it
 * again); compose into a new one instead.
 */
export interface HostOverride {
  site: string;
  /** Full shape of the site for this batch, e.g. [B, H, T, T] for a pattern. */
  shape: number[];
  value: Float32Array;
  mask: Uint8Array;
}

export function newHostOverride(site: string, shape: number[]): HostOverride {
  const n = shape.reduce((a, b) => a * b, 1);
  return { site, shape, value: new Float32Array(n), mask: new Uint8Array(n) };
}

/** Writes `b` on top of `a` (same site and shape): later overrides win where their masks are set. */
export function composeHostOverrides(a: HostOverride, b: HostOverride): HostOverride {
  const out = { site: a.site, shape: a.shape, value: a.value.slice(), mask: a.mask.slice() };
  for (let i = 0; i < b.mask.length; i++)
    if (b.mask[i]) {
      out.value[i] = b.value[i];
      out.mask[i] = 1;
    }
  return out;
}

/** Merges a list into one override per site, in order. */
export function mergeHostOverrides(list: HostOverride[]): Map<string, HostOverride> {
  const m = new Map<string, HostOverride>();
  for (const o of list) {
    const prev = m.get(o.site);
    m.set(o.site, prev ? composeHostOverrides(prev, o) : o);
  }
  return m;
}
