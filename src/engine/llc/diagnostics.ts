/**
 * What makes an LLC estimate meaningless, as warnings shown next to the number (never only in a log).
 * Good estimates have flat loss traces after burn-in, a running LLC that has converged and no
 * divergence; a negative LLC means bad hyperparameters, not a finding (devinterp's guidance,
 * /work/shared/notes/llc.md).
 *
 *   convergence:  λ̂_all = nβ·(mean of all draws − L(w*)),  λ̂_2nd = nβ·(mean of the second half − L(w*))
 *                 flattened ⇔ |λ̂_2nd − λ̂_all| ≤ 5 %·|λ̂_2nd| + 2·SE   (SE over chains of the per-chain gap)
 *   significance: |mean| ≥ 2·stderr (chains and the baseline L(w*) in quadrature)
 *   MALA:         mean acceptance ≥ 0.1. The acceptance is a sum over coordinates in its exponent: in 66,629
 *                 dimensions a chain started at w* is rejected often even when each coordinate's
 *                 discretisation error is small (0.4–0.6 at settings whose estimates agree across ε), so only
 *                 a rate that low flags a step far too large for the curvature; calibrate ε for the rest.
 */
import { LlcEstimate, excess, mean, std } from './sampler';

export type LlcWarningCode =
  'nbeta-one' | 'diverged' | 'negative' | 'not-flattened' | 'low-acceptance' | 'not-significant' | 'cancelled';

export interface LlcWarning {
  code: LlcWarningCode;
  message: string;
}

export interface Convergence {
  /** λ̂ from every draw and from the second half only (means over chains). */
  all: number;
  secondHalf: number;
  /** (secondHalf − all) / |secondHalf|: > 0 while the traces still rise. */
  relativeGap: number;
  /** Standard error over chains of the per-chain gap. */
  gapStderr: number;
  flattened: boolean;
  /** false when there are too few draws (< 8) to judge. */
  judged: boolean;
}

export const FLAT_TOLERANCE = 0.05;
export const MIN_ACCEPTANCE = 0.1;
const MIN_DRAWS_TO_JUDGE = 8;

export function convergence(e: LlcEstimate): Convergence {
  const ok = e.chains.filter((c) => !c.diverged && c.loss.length >= MIN_DRAWS_TO_JUDGE);
  if (!ok.length)
    return { all: NaN, secondHalf: NaN, relativeGap: NaN, gapStderr: NaN, flattened: false, judged: false };
  const nb = e.settings.nbeta,
    L0 = e.initLoss;
  const all = ok.map((c) => nb * mean(excess(c, L0)));
  const half = ok.map((c) => {
    const x = excess(c, L0);
    return nb * mean(x.slice(Math.floor(x.length / 2)));
  });
  const gaps = half.map((h, i) => h - all[i]);
  const a = mean(all),
    h = mean(half),
    g = mean(gaps);
  const se = gaps.length > 1 ? std(gaps) / Math.sqrt(gaps.length) : 0;
  return {
    all: a,
    secondHalf: h,
    relativeGap: g / Math.max(Math.abs(h), 1e-12),
    gapStderr: se,
    flattened: Math.abs(g) <= FLAT_TOLERANCE * Math.abs(h) + 2 * se,
    judged: true,
  };
}

const f = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(2));

export function diagnose(e: LlcEstimate): LlcWarning[] {
  const w: LlcWarning[] = [];
  const s = e.settings;
  if (e.cancelled)
    w.push({ code: 'cancelled', message: 'sampling was cancelled: the estimate uses the draws taken so far' });
  if (s.nbeta === 1)
    w.push({
      code: 'nbeta-one',
      message:
        `nβ = 1: LLC estimates will be off; the default is m / ln m = ${f(s.nbetaDefault)} for minibatch ` +
        `${s.batchSize}`,
    });
  const div = e.chains.filter((c) => c.diverged);
  if (div.length) {
    w.push({
      code: 'diverged',
      message:
        `${div.length} of ${e.chains.length} chains diverged ` +
        `(${div[0].divergence})${div.length === e.chains.length ? ': no estimate' : ', left out of the estimate'}; ` +
        `lower ε or raise γ`,
    });
  }
  if (Number.isFinite(e.mean) && e.mean < 0)
    w.push({
      code: 'negative',
      message:
        `negative LLC (${f(e.mean)}): the hyperparameters are bad (ε too small or the chains found lower ` +
        `loss than w*), not a finding`,
    });
  const cv = convergence(e);
  if (cv.judged && !cv.flattened) {
    w.push({
      code: 'not-flattened',
      message:
        `loss traces have not flattened: the second half of the draws gives ${f(cv.secondHalf)} against ` +
        `${f(cv.all)} from all (${(100 * cv.relativeGap).toFixed(0)} %); the estimate is biased ` +
        `${cv.relativeGap > 0 ? 'low' : 'high'} — raise ε, the burn-in or the draws`,
    });
  }
  if (Number.isFinite(e.meanAcceptance) && e.meanAcceptance < MIN_ACCEPTANCE) {
    w.push({
      code: 'low-acceptance',
      message:
        `MALA acceptance ${e.meanAcceptance.toFixed(2)} < ${MIN_ACCEPTANCE}: the step is large for the local ` +
        `curvature (discretisation bias); lower ε`,
    });
  }
  if (Number.isFinite(e.mean) && Math.abs(e.mean) < 2 * e.stderr) {
    w.push({
      code: 'not-significant',
      message: `the estimate ${f(e.mean)} is within 2 standard errors (${f(e.stderr)}) of zero`,
    });
  }
  return w;
}

/** Whether an estimate is usable: nothing but (at most) the nβ = 1 note. */
export function healthy(ws: LlcWarning[]): boolean {
  return ws.every((x) => x.code === 'nbeta-one');
}

/** An estimate with its warnings and convergence check. */
export interface DiagnosedEstimate {
  estimate: LlcEstimate;
  warnings: LlcWarning[];
  convergence: Convergence;
}

export function diagnosed(e: LlcEstimate): DiagnosedEstimate {
  return { estimate: e, warnings: diagnose(e), convergence: convergence(e) };
}
