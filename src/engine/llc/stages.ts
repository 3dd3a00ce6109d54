/**
 * Developmental stages read from the LLC curve over log-time, as in Hoogland et al. 2024 ("The
 * Developmental Landscape of In-Context Learning"): stage boundaries are the critical points of λ̂(t)
 * on a log t axis, where the LLC turns from rising to falling or back.
 *
 *   x_k = log10(sequences_k)   (checkpoints with sequences > 0 and a finite estimate)
 *   s(x) = Σ_k K(x − x_k)·λ̂_k / Σ_k K(x − x_k),   K Gaussian with bandwidth b (default: 1.5 × the median
 *          spacing of the x_k, at least 0.03 decades)
 *   boundaries: the zeros of ds/dx between checkpoints (linear interpolation of the slope)
 *   kept: a turning point survives only if the smoothed curve moves by more than 2 × the median standard
 *         error of the estimates between it and its neighbouring turning points (or the ends): smaller
 *         wiggles are noise (persistence simplification, smallest wiggle first)
 *
 * Each stage is the interval between consecutive boundaries (the first from the first checkpoint, the
 * last to the last), labelled by whether the LLC rises or falls through it.
 */

export interface StagePoint {
  sequences: number;
  llc: number;
  stderr: number;
}

export interface StageBoundary {
  /** Where the smoothed slope crosses zero (sequences, interpolated on the log axis). */
  sequences: number;
  kind: 'peak' | 'trough';
  /** Smoothed LLC there. */
  llc: number;
}

export interface Stage {
  index: number;
  from: number;
  until: number;
  trend: 'rising' | 'falling';
  llcFrom: number;
  llcUntil: number;
}

export interface Stages {
  method: string;
  bandwidthDecades: number;
  noise: number;
  boundaries: StageBoundary[];
  stages: Stage[];
  /** The smoothed curve at the checkpoints (for drawing). */
  smoothed: Array<{ sequences: number; llc: number }>;
}

export const STAGES_METHOD =
  'critical points of the LLC over log10(sequences), Gaussian-smoothed, turning points smaller than 2 × the median ' +
  'standard error removed';

export function findStages(points: StagePoint[], opts: { bandwidthDecades?: number } = {}): Stages {
  const pts = points.filter((p) => p.sequences > 0 && Number.isFinite(p.llc)).sort((a, b) => a.sequences - b.sequences);
  const empty = (b: number, noise: number): Stages => ({
    method: STAGES_METHOD,
    bandwidthDecades: b,
    noise,
    boundaries: [],
    stages: [],
    smoothed: [],
  });
  if (pts.length < 3) {
    return {
      ...empty(opts.bandwidthDecades ?? NaN, NaN),
      smoothed: pts.map((p) => ({ sequences: p.sequences, llc: p.llc })),
      stages:
        pts.length >= 2
          ? [stage(0, pts[0].sequences, pts[pts.length - 1].sequences, pts[0].llc, pts[pts.length - 1].llc)]
          : [],
    };
  }
  const xs = pts.map((p) => Math.log10(p.sequences));
  const gaps = xs
    .slice(1)
    .map((x, i) => x - xs[i])
    .sort((a, b) => a - b);
  const bw = opts.bandwidthDecades ?? Math.max(0.03, 1.5 * gaps[Math.floor(gaps.length / 2)]);
  const s = xs.map((x0) => {
    let num = 0,
      den = 0;
    for (let k = 0; k < xs.length; k++) {
      const w = Math.exp(-0.5 * ((xs[k] - x0) / bw) ** 2);
      num += w * pts[k].llc;
      den += w;
    }
    return num / den;
  });
  const ses = pts
    .map((p) => p.stderr)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  const noise = 2 * (ses.length ? ses[Math.floor(ses.length / 2)] : 0);
  // Slopes between consecutive checkpoints; a turning point where the sign changes.
  const slope = xs.slice(1).map((x, i) => (s[i + 1] - s[i]) / (x - xs[i]));
  interface Turn {
    x: number;
    y: number;
    kind: 'peak' | 'trough';
  }
  let turns: Turn[] = [];
  for (let i = 1; i < slope.length; i++) {
    if (slope[i - 1] === 0 || Math.sign(slope[i - 1]) === Math.sign(slope[i])) continue;
    // The slope of segment i−1 sits at its midpoint, that of segment i at its midpoint: interpolate the zero.
    const m0 = (xs[i - 1] + xs[i]) / 2,
      m1 = (xs[i] + xs[i + 1]) / 2;
    const x = m0 + (m1 - m0) * (slope[i - 1] / (slope[i - 1] - slope[i]));
    turns.push({ x, y: s[i], kind: slope[i - 1] > 0 ? 'peak' : 'trough' });
  }
  // Persistence: while the smallest wiggle is noise, remove it — two adjacent turns together (keeping the
  // peaks and troughs alternating), or a turn next to an end on its own (the ends are not typed).
  for (;;) {
    let best: { amp: number; drop: number[] } | null = null;
    const consider = (amp: number, drop: number[]): void => {
      if (!best || amp < best.amp) best = { amp, drop };
    };
    if (turns.length) {
      consider(Math.abs(turns[0].y - s[0]), [0]);
      consider(Math.abs(turns[turns.length - 1].y - s[s.length - 1]), [turns.length - 1]);
    }
    for (let i = 0; i + 1 < turns.length; i++) consider(Math.abs(turns[i + 1].y - turns[i].y), [i, i + 1]);
    const b = best as { amp: number; drop: number[] } | null;
    if (!b || b.amp > noise) break;
    turns = turns.filter((_, i) => !b.drop.includes(i));
  }
  const boundaries = turns.map((t) => ({ sequences: Math.round(10 ** t.x), kind: t.kind, llc: t.y }));
  const cuts = [{ x: xs[0], y: s[0] }, ...turns, { x: xs[xs.length - 1], y: s[s.length - 1] }];
  const stages = cuts
    .slice(1)
    .map((c, i) => stage(i, Math.round(10 ** cuts[i].x), Math.round(10 ** c.x), cuts[i].y, c.y));
  return {
    method: STAGES_METHOD,
    bandwidthDecades: bw,
    noise,
    boundaries,
    stages,
    smoothed: pts.map((p, k) => ({ sequences: p.sequences, llc: s[k] })),
  };
}

function stage(index: number, from: number, until: number, a: number, b: number): Stage {
  return { index, from, until, trend: b >= a ? 'rising' : 'falling', llcFrom: a, llcUntil: b };
}
