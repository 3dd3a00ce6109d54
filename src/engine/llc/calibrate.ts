/**
 * Calibration: an ε × nβ sweep of the LLC estimate at one point, drawn as a grid, with a recommendation.
 * The grid is devinterp's ε–β analyser's: ε at 8 log-spaced values in [1e-6, 1e-2] ("ε > 1e-2 typically
 * leads to instability"), nβ from 1e-2 to 1e3 times the default m / ln m (here at the powers of ten, so the
 * default itself is a row). γ and the chain settings stay fixed.
 *
 * Recommendation (our rule; devinterp leaves the choice to the eye): on the default-nβ row, the smallest
 * ε whose estimate has equilibrated: healthy (no divergence, traces flattened, positive and significant,
 * MALA acceptance ≥ 0.1; see diagnostics.ts), precise enough to judge (std/√chains ≤ 10 % of the
 * estimate; L(w*) is shared by every cell, so its error does not enter the comparison)
 * and flat by the stricter test |λ̂_2nd − λ̂_all| ≤ 5 %·λ̂_2nd + 1 SE. Too small an ε leaves the chains near w*
 * and the estimate low and still rising; too large a one inflates it by discretisation error and finally
 * diverges; the smallest equilibrated ε is the least biased estimate whose chains reached equilibrium
 * within the draws. (With devinterp's burn-in 0 there is often no plateau in ε to pick from: on a
 * quadratic the estimate climbs from −20 % to +20 % between neighbouring grid values.) Between it and the
 * grid value below, when that one failed only for being too slow, the boundary is refined by bisection
 * in log ε (`refine` steps, default 3: a factor ≈ 1.2 with the grid's 3.7).
 */
import { LlcEstimate } from './sampler';
import { LlcWarningCode, convergence, diagnose, healthy } from './diagnostics';

export const DEFAULT_EPSILONS: number[] = Array.from({ length: 8 }, (_, i) => 10 ** (-6 + (4 * i) / 7));
export const DEFAULT_NBETA_MULTIPLIERS: number[] = [1e-2, 1e-1, 1, 1e1, 1e2, 1e3];

export interface CalibrationCell {
  epsilon: number;
  nbeta: number;
  /** nβ / default nβ. */
  nbetaMultiplier: number;
  mean: number;
  std: number;
  stderr: number;
  /** std / √chains: the cells of one calibration share L(w*), so only this part differs between them. */
  chainStderr: number;
  meanAcceptance: number;
  /** (second-half − all-draw estimate) / |second-half|, and the standard error of that gap (LLC units). */
  relativeGap: number;
  gapStderr: number;
  flattened: boolean;
  divergedChains: number;
  warnings: LlcWarningCode[];
  healthy: boolean;
  /** Healthy, precise and flat by the strict test: what the recommendation requires. */
  equilibrated: boolean;
  /** true for the bisection points between grid values. */
  refined: boolean;
}

export interface Recommendation {
  epsilon: number;
  nbeta: number;
  mean: number;
  std: number;
  reason: string;
}

export interface Calibration {
  epsilons: number[];
  nbetaMultipliers: number[];
  nbetaDefault: number;
  gamma: number;
  cells: CalibrationCell[];
  recommendation: Recommendation | null;
  /** Why there is no recommendation, or how it was chosen. */
  note: string;
}

export interface CalibrateOptions {
  epsilons?: number[];
  nbetaMultipliers?: number[];
  nbetaDefault: number;
  gamma: number;
  refine?: number;
  /** Runs one estimate; cells of the grid are requested together so a pool can run them in parallel. */
  estimate: (epsilon: number, nbeta: number) => Promise<LlcEstimate>;
}

export function cellOf(e: LlcEstimate, nbetaDefault: number, refined: boolean): CalibrationCell {
  const ws = diagnose(e),
    cv = convergence(e);
  const c: CalibrationCell = {
    epsilon: e.settings.epsilon,
    nbeta: e.settings.nbeta,
    nbetaMultiplier: e.settings.nbeta / nbetaDefault,
    mean: e.mean,
    std: e.std,
    stderr: e.stderr,
    chainStderr: e.chainStderr,
    meanAcceptance: e.meanAcceptance,
    relativeGap: cv.relativeGap,
    gapStderr: cv.gapStderr,
    flattened: cv.flattened,
    divergedChains: e.chains.filter((c) => c.diverged).length,
    warnings: ws.map((w) => w.code),
    healthy: healthy(ws),
    equilibrated: false,
    refined,
  };
  c.equilibrated = equilibrated(c);
  return c;
}

export const PRECISION = 0.1;
export const STRICT_FLAT_TOLERANCE = 0.05;

/** Equilibrated: healthy, precise enough to judge, and flat by the stricter test. */
export function equilibrated(c: CalibrationCell): boolean {
  return (
    c.healthy &&
    Number.isFinite(c.mean) &&
    c.chainStderr <= PRECISION * Math.abs(c.mean) &&
    Math.abs(c.relativeGap) * Math.abs(c.mean) <= STRICT_FLAT_TOLERANCE * Math.abs(c.mean) + c.gapStderr
  );
}

/** Failed only for being too slow: more ε would help. */
const tooSlow = (c: CalibrationCell) =>
  !equilibrated(c) && c.warnings.every((w) => w === 'not-flattened' || w === 'not-significant' || w === 'nbeta-one');

export async function calibrate(o: CalibrateOptions): Promise<Calibration> {
  const epsilons = [...(o.epsilons ?? DEFAULT_EPSILONS)].sort((a, b) => a - b),
    mults = o.nbetaMultipliers ?? DEFAULT_NBETA_MULTIPLIERS;
  for (const e of epsilons) if (!(e > 0)) throw new Error(`calibration ε must be > 0, got ${e}`);
  for (const m of mults) if (!(m > 0)) throw new Error(`calibration nβ multipliers must be > 0, got ${m}`);
  const jobs = mults.flatMap((m) => epsilons.map((eps) => ({ eps, nbeta: m * o.nbetaDefault })));
  const cells = (await Promise.all(jobs.map((j) => o.estimate(j.eps, j.nbeta)))).map((e) =>
    cellOf(e, o.nbetaDefault, false),
  );
  const base = cells.filter((c) => Math.abs(c.nbetaMultiplier - 1) < 1e-9).sort((a, b) => a.epsilon - b.epsilon);
  let note: string;
  let rec: Recommendation | null = null;
  if (!base.length) note = 'the grid has no default-nβ row (multiplier 1): no recommendation';
  else {
    const hi = base.findIndex(equilibrated);
    if (hi < 0) {
      const counts = new Map<string, number>();
      for (const c of base) for (const w of c.warnings) counts.set(w, (counts.get(w) ?? 0) + 1);
      const top = [...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} (${n})`)
        .join(', ');
      note =
        `no ε at the default nβ = ${o.nbetaDefault.toFixed(2)} (γ = ${o.gamma}) gives an equilibrated ` +
        `estimate${top ? `; warnings: ${top}` : ''}; try another γ, a burn-in or more draws`;
    } else {
      let best = base[hi];
      let lo = hi > 0 && tooSlow(base[hi - 1]) ? base[hi - 1] : null;
      for (let k = 0; lo && k < (o.refine ?? 3); k++) {
        const eps = Math.sqrt(lo.epsilon * best.epsilon);
        const c = cellOf(await o.estimate(eps, o.nbetaDefault), o.nbetaDefault, true);
        cells.push(c);
        if (equilibrated(c)) best = c;
        else if (tooSlow(c)) lo = c;
        else break;
      }
      rec = {
        epsilon: best.epsilon,
        nbeta: best.nbeta,
        mean: best.mean,
        std: best.std,
        reason:
          `the smallest ε at the default nβ whose estimate has equilibrated (healthy, std/√chains ≤ 10 %, ` +
          `traces flat within 5 % + 1 SE)${best.refined ? ', refined between grid values' : ''}`,
      };
      note =
        `recommended ε = ${best.epsilon.toPrecision(3)}, nβ = ${best.nbeta.toPrecision(4)} (γ = ${o.gamma}): ` +
        `${rec.reason}`;
    }
  }
  return {
    epsilons,
    nbetaMultipliers: mults,
    nbetaDefault: o.nbetaDefault,
    gamma: o.gamma,
    cells,
    recommendation: rec,
    note,
  };
}
