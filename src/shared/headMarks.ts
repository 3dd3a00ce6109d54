/**
 * Which heads a run's clamps touch at a given point of training: zero-ablated, pattern-clamped (its
 * attention set or reshaped by a clamp), or replaced (Layer 1 under the `layer1` clamp, layers grafted in
 * from a donor). Views mark them, and never call a clamped or ablated head "the strongest induction head"
 * (its score is the clamp's, not learnt). Reads run.json clamps as data; no runtime imports.
 */

export type HeadMark = 'ablated' | 'clamped' | 'replaced';

interface ClampLike {
  kind?: unknown;
  heads?: unknown;
  head?: unknown;
  from?: unknown;
  until?: unknown;
  tillLayer?: unknown;
}

/**
 * The kinds that set a head's pattern or pre-softmax scores (the head still runs, but not on its own): the
 * clamp registry's `headPattern` kinds (src/engine/clamps/kinds.ts; its test checks the two agree), listed here
 * so that the views and the extension host mark heads without loading the engine.
 */
export const HEAD_PATTERN_KINDS: ReadonlySet<string> = new Set([
  'prev-token',
  'induction',
  'match',
  'temperature',
  'disallow-prev-token',
  'silence-non-label',
  'copy',
]);

function active(c: ClampLike, sequences: number | undefined): boolean {
  if (sequences === undefined) return true;
  return (typeof c.from !== 'number' || sequences >= c.from) && (typeof c.until !== 'number' || sequences < c.until);
}

/** "L2H3" → [1, 3] (0-indexed layer); "1:3" too. */
export function headIndex(h: string): [number, number] | undefined {
  let m = /^L(\d+)H(\d+)$/i.exec(h);
  if (m) return [Number(m[1]) - 1, Number(m[2])];
  m = /^(\d+):(\d+)$/.exec(h);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Marks keyed "L<layer>H<head>" (paper layers). `sequences` undefined: every clamp counts whatever its
 * window. Precedence: ablated > replaced > clamped (an ablated head's pattern does not matter).
 */
export function headMarks(
  clamps: unknown,
  o: { sequences?: number; depth?: number; numHeads?: number } = {},
): Map<string, HeadMark> {
  const depth = o.depth ?? 2,
    numHeads = o.numHeads ?? 8;
  const marks = new Map<string, HeadMark>();
  const rank: Record<HeadMark, number> = { clamped: 1, replaced: 2, ablated: 3 };
  const put = (h: string, m: HeadMark) => {
    const cur = marks.get(h);
    if (!cur || rank[m] > rank[cur]) marks.set(h, m);
  };
  const list = Array.isArray(clamps) ? (clamps as ClampLike[]) : [];
  for (const c of list) {
    if (!c || typeof c !== 'object' || !active(c, o.sequences)) continue;
    const named = [...(Array.isArray(c.heads) ? c.heads : []), ...(typeof c.head === 'string' ? [c.head] : [])]
      .filter((h): h is string => typeof h === 'string')
      .map(headIndex)
      .filter((x): x is [number, number] => !!x);
    const key = ([l, h]: [number, number]) => `L${l + 1}H${h}`;
    if (c.kind === 'ablate') named.forEach((x) => put(key(x), 'ablated'));
    else if (typeof c.kind === 'string' && HEAD_PATTERN_KINDS.has(c.kind)) named.forEach((x) => put(key(x), 'clamped'));
    else if (c.kind === 'layer1' || c.kind === 'graft-in') {
      const upTo = c.kind === 'layer1' ? 0 : typeof c.tillLayer === 'number' ? c.tillLayer : 0;
      for (let l = 0; l <= Math.min(upTo, depth - 1); l++)
        for (let h = 0; h < numHeads; h++) put(key([l, h]), 'replaced');
    }
  }
  return marks;
}

/**
 * The strongest induction head among the last layer's heads that learn freely (not ablated, clamped or
 * replaced): index and score, or undefined when every head is marked or there are no scores.
 */
export function strongestFreeHead(
  inductionStrength: number[],
  marks: Map<string, HeadMark>,
  lastLayer = 2,
): { head: number; score: number } | undefined {
  let best: { head: number; score: number } | undefined;
  inductionStrength.forEach((score, head) => {
    if (!Number.isFinite(score) || marks.has(`L${lastLayer}H${head}`)) return;
    if (!best || score > best.score) best = { head, score };
  });
  return best;
}
