/**
 * Pure helpers behind the attention view (no imports: used by the CLI's `patterns` command, the
 * extension host and the webview, and unit-tested):
 *  - `parseSequenceSpec`: a hand-typed sequence "x1 ℓ1 x2 ℓ2 xq" (each x as class[/exemplar]);
 *  - `meanPatterns` / `alignedMeanPatterns`: eval-set averages of [B, H, T, T] attention. The plain mean
 *    mixes sequences whose answer is ℓ1 with ones whose answer is ℓ2 (each half the time, spec §1.1), so
 *    an induction head looks like .45 / .45 on both labels. The aligned mean re-indexes the query row of
 *    every sequence so that column ℓ2 is the correct label and x2 its exemplar (ℓ1, x1: the other pair),
 *    as the induction strength does (spec §5.3): aligned[xq][ℓ2] − aligned[xq][ℓ1] = IS.
 */

export interface SequenceSpec {
  /** Class of x1, x2, xq. */
  classes: [number, number, number];
  /** Exemplar index of x1, x2, xq (default 0). */
  exemplars: [number, number, number];
  /** ℓ1, ℓ2. */
  labels: [number, number];
  /** Which pair the query matches (0: x1's class, 1: x2's), null when neither or both. */
  correct: 0 | 1 | null;
}

export interface SequenceLimits {
  classes?: number;
  exemplars?: number;
  labels?: number;
}

/**
 * Parses "x1 ℓ1 x2 ℓ2 xq" with x = CLASS or CLASS/EXEMPLAR and ℓ = LABEL (whitespace or commas
 * between tokens), e.g. "12 3 40 1 12" or "12/0 3 40/2 1 12/1". Returns the sequence or one line
 * naming the problem. Limits (when given) bound the indices: class < classes, label < labels, …
 */
export function parseSequenceSpec(text: string, lim: SequenceLimits = {}): SequenceSpec | string {
  const toks = text
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean);
  if (toks.length !== 5) {
    return `a sequence is 5 tokens "x1 ℓ1 x2 ℓ2 xq" (x = class or class/exemplar, ℓ = label), got ${toks.length}`;
  }
  const int = (s: string, what: string, max?: number): number | string => {
    if (!/^\d+$/.test(s)) return `${what} must be a whole number, got "${s}"`;
    const n = Number(s);
    if (max !== undefined && n >= max) return `${what} ${n} is out of range (0…${max - 1})`;
    return n;
  };
  const item = (s: string, name: string): [number, number] | string => {
    const [c, e, extra] = s.split('/');
    if (extra !== undefined) return `${name} "${s}": write class or class/exemplar`;
    const ci = int(c, `${name} class`, lim.classes);
    if (typeof ci === 'string') return ci;
    const ei = e === undefined ? 0 : int(e, `${name} exemplar`, lim.exemplars);
    if (typeof ei === 'string') return ei;
    return [ci, ei];
  };
  const x1 = item(toks[0], 'x1'),
    x2 = item(toks[2], 'x2'),
    xq = item(toks[4], 'xq');
  for (const x of [x1, x2, xq]) if (typeof x === 'string') return x;
  const l1 = int(toks[1], 'ℓ1', lim.labels),
    l2 = int(toks[3], 'ℓ2', lim.labels);
  for (const l of [l1, l2]) if (typeof l === 'string') return l;
  const [a, b, q] = [x1, x2, xq] as Array<[number, number]>;
  const m1 = q[0] === a[0],
    m2 = q[0] === b[0];
  return {
    classes: [a[0], b[0], q[0]],
    exemplars: [a[1], b[1], q[1]],
    labels: [l1 as number, l2 as number],
    correct: m1 === m2 ? null : m1 ? 0 : 1,
  };
}

/** The sequence back as text ("12/0 3 40/0 1 12/0"). */
export function formatSequenceSpec(s: SequenceSpec): string {
  const x = (i: number) => `${s.classes[i]}/${s.exemplars[i]}`;
  return `${x(0)} ${s.labels[0]} ${x(1)} ${s.labels[1]} ${x(2)}`;
}

/** One sequence's [H][T][T] from a flat [B, H, T, T] pattern. */
export function sequencePatterns(p: ArrayLike<number>, b: number, H: number, T: number): number[][][] {
  return Array.from({ length: H }, (_, h) =>
    Array.from({ length: T }, (_, q) => Array.from({ length: T }, (_, k) => p[((b * H + h) * T + q) * T + k])),
  );
}

/** Mean over the B sequences of a flat [B, H, T, T] pattern → [H][T][T]. */
export function meanPatterns(p: ArrayLike<number>, B: number, H: number, T: number): number[][][] {
  return alignedOrMean(p, B, H, T, null);
}

/**
 * The aligned mean (5-token sequences x1 ℓ1 x2 ℓ2 xq): rows x1…ℓ2 as in the plain mean; in the query
 * row, a sequence whose first pair matches (correct = 0) has its pairs swapped, so key ℓ2 is always the
 * correct label and x2 its exemplar. `correct[b]` ∈ {0, 1}.
 */
export function alignedMeanPatterns(
  p: ArrayLike<number>,
  B: number,
  H: number,
  T: number,
  correct: ArrayLike<number>,
): number[][][] {
  if (T !== 5) throw new Error(`the aligned mean needs 5-token sequences (x1 ℓ1 x2 ℓ2 xq), got ${T}`);
  return alignedOrMean(p, B, H, T, correct);
}

const SWAP = [2, 3, 0, 1, 4];

function alignedOrMean(
  p: ArrayLike<number>,
  B: number,
  H: number,
  T: number,
  correct: ArrayLike<number> | null,
): number[][][] {
  const out = Array.from({ length: H }, () => Array.from({ length: T }, () => new Array<number>(T).fill(0)));
  for (let b = 0; b < B; b++) {
    const swap = correct !== null && correct[b] === 0;
    for (let h = 0; h < H; h++)
      for (let q = 0; q < T; q++)
        for (let k = 0; k < T; k++) {
          const src = swap && q === T - 1 ? SWAP[k] : k;
          out[h][q][k] += p[((b * H + h) * T + q) * T + src] / B;
        }
  }
  return out;
}
