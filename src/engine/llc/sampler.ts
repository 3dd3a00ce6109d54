/**
 * The local learning coefficient (LLC) estimated by SGLD around a point w* (Lau et al. 2023; the
 * `devinterp` library's semantics, /work/shared/notes/llc.md), generic over a "loss and gradient of a flat
 * parameter vector" target, so the same code samples a linear regression with a closed-form LLC and the
 * transformer.
 *
 *   SGLD step:   w ← w − (ε/2)·(nβ·∇L_m(w) + γ·(w − w*)) + N(0, ε·I)       (on the sampled coordinates)
 *   baseline:    L(w*) = mean loss of the unperturbed model over `initBatches` (default `chains`) minibatches
 *                (from a fixed stream: the sampler seed changes the chains only)
 *   per chain:   λ̂_c = nβ·(mean over draws of L_m(w_draw) − L(w*))
 *                (pairedBaseline: − L_m(w*) on the draw's own minibatch instead)
 *   estimate:    mean ± std (N − 1) of λ̂_c over the chains that did not diverge
 *   running:     λ̂_c(k) = nβ·(mean of the first k draws − L(w*)), averaged over chains, per draw
 *
 * A chain takes burnIn + draws·stepsBetweenDraws steps; step i records a draw when i ≥ burnIn and
 * (i + 1 − burnIn) is a multiple of stepsBetweenDraws, with the minibatch loss computed at step i before
 * its update (as devinterp records it). Restricting to a set of coordinate ranges confines drift and noise
 * to them (devinterp's `optimize_over`): every other weight stays bit-identical to w*.
 *
 * Diagnostics per draw: the loss, ‖w − w*‖, ‖∇L_m‖ and the acceptance probability of the corresponding
 * MALA step min(1, exp(−ΔU + log q(w_prev|w) − log q(w|w_prev))) with U = nβ·L + γ/2·‖w − w*‖² and the
 * Langevin proposal q(·|w) = N(w − (ε/2)∇U(w), ε·I). ΔU is taken by the trapezoid rule on the two sampled
 * drifts (exact for a quadratic U) because the two minibatch losses devinterp differences come from
 * different minibatches, whose noise (≈ nβ·std of L_m) swamps the discretisation error the acceptance rate
 * is meant to show; devinterp's version is kept too (`acceptanceDevinterp`).
 */
import { Rng } from '../data/rng';
import { Ranges, SgldKernel } from './kernel';
import type { LlcSettings } from '../../shared/llc';

export type { Ranges } from './kernel';

/** What the sampler needs of a model: minibatches, parameters in and loss / gradient out. */
export interface SgldTarget<B = unknown> {
  /** Length of the flat parameter vector. */
  readonly size: number;
  /** m: examples per minibatch (the default nβ is m / ln m). */
  readonly batchSize: number;
  /**
   * A chain whose draw loss exceeds this counts as diverged (e.g. L(w*) + ln L for an L-way classifier:
   * the sampler has left the basin). Without it: nβ·(L − L(w*)) > 10·(sampled coordinates), twenty times
   * the largest LLC they can have (d/2) — far beyond the fluctuations of a chain in equilibrium.
   */
  divergenceLoss?(initLoss: number): number;
  /** Draws one minibatch. */
  drawBatch(rng: Rng): B;
  /** Sets every parameter from w. */
  load(w: Float32Array): void;
  /** Sets the parameters in `ranges` from w (the others are unchanged since the last load). */
  update(w: Float32Array, ranges: Ranges): void;
  /** L_m at the current parameters on `batch`; with `grad`, writes ∇L_m at the coordinates of `ranges` into it. */
  evaluate(batch: B, grad: Float32Array | null, ranges: Ranges): number;
  /**
   * A kernel whose w and g are the target's own parameter and gradient vectors (SgldKernel with a
   * KernelHost): the sampler then steps the parameters in place, never calls update(), and evaluate()
   * given that kernel's g leaves ∇L_m where it is. Optional: without it every step copies w in, g out.
   */
  hostKernel?(): SgldKernel;
}

export interface SgldOptions {
  /** ε: step size (devinterp's lr). */
  epsilon: number;
  /** γ: localisation strength. */
  gamma: number;
  /** nβ: inverse temperature times n; default m / ln m. */
  nbeta?: number;
  chains: number;
  draws: number;
  burnIn: number;
  stepsBetweenDraws: number;
  seed: number;
  /** Minibatches for L(w*) (default: chains, as devinterp). */
  initBatches?: number;
  /**
   * Compare each draw with w* on the same minibatch: λ̂ = nβ·mean(L_m(w) − L_m(w*)), one extra forward pass
   * per draw. Unbiased for the same quantity (E_m L_m(w*) = L(w*)) without the minibatch noise of L(w*)
   * and of the draws, which is what a per-head estimate (λ̂ ≈ 0.01–0.1) needs: that noise (≈ 0.2 on the
   * plateau) would otherwise be one offset shared by all heads. Default false (devinterp's estimator).
   */
  pairedBaseline?: boolean;
  /** Sample only these coordinates (default: all). */
  ranges?: Ranges;
  /** Chains to run (default all 0…chains−1): a worker runs a slice, the results merge with mergeChains. */
  chainIds?: number[];
  /** Called after each step; return true to stop (the estimate is then marked cancelled). */
  onStep?: (chain: number, step: number, steps: number) => boolean | void;
}

export interface ChainResult {
  chain: number;
  /** nβ·(mean draw loss − L(w*)) over the draws taken (NaN if the chain diverged). */
  llc: number;
  /** Per draw: minibatch loss, ‖w − w*‖, ‖∇L_m‖, MALA acceptance of the step into the draw (null on step 0). */
  loss: number[];
  /** With pairedBaseline: L_m(w*) on each draw's minibatch. */
  baselineLoss?: number[];
  distance: number[];
  gradNorm: number[];
  acceptance: Array<number | null>;
  acceptanceDevinterp: Array<number | null>;
  /** Mean MALA acceptance over every transition of the chain (both definitions). */
  meanAcceptance: number;
  meanAcceptanceDevinterp: number;
  diverged: boolean;
  /** Why it diverged, e.g. "non-finite loss at step 12". */
  divergence?: string;
  steps: number;
}

export interface Baseline {
  initLoss: number;
  initLossStd: number;
  initBatches: number;
}

export interface LlcEstimate {
  settings: LlcSettings;
  /** L(w*) and the std of its minibatch losses. */
  initLoss: number;
  initLossStd: number;
  /** Over chains that did not diverge (NaN when none is left). */
  mean: number;
  std: number;
  /** Standard error: chains (std/√n) and the baseline's nβ·std/√initBatches, combined in quadrature. */
  stderr: number;
  chainStderr: number;
  baselineStderr: number;
  /** Running estimate per draw, mean and std over the chains. */
  running: { mean: number[]; std: number[] };
  meanAcceptance: number;
  meanAcceptanceDevinterp: number;
  chains: ChainResult[];
  cancelled: boolean;
  seconds: number;
}

/** devinterp's default_nbeta: m / ln m (1 when m ≤ 1). */
export function defaultNbeta(m: number): number {
  return m > 1 ? m / Math.log(m) : 1;
}

/** Every coordinate of a vector of `size`. */
export const allRanges = (size: number): Ranges => [[0, size]];

export function rangesSize(r: Ranges): number {
  return r.reduce((s, [a, b]) => s + b - a, 0);
}

/** Checks the options; throws one clear line for the first problem. */
export function validateSgldOptions(o: SgldOptions): void {
  const pos = (v: number, name: string): void => {
    if (!(Number.isFinite(v) && v > 0)) throw new Error(`${name} must be a number > 0, got ${v}`);
  };
  const whole = (v: number, name: string, min: number): void => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${v}`);
  };
  pos(o.epsilon, 'epsilon (ε)');
  if (!(Number.isFinite(o.gamma) && o.gamma >= 0)) throw new Error(`gamma (γ) must be a number ≥ 0, got ${o.gamma}`);
  if (o.nbeta !== undefined) pos(o.nbeta, 'nbeta (nβ)');
  whole(o.chains, 'chains', 1);
  whole(o.draws, 'draws', 1);
  whole(o.burnIn, 'burn-in', 0);
  whole(o.stepsBetweenDraws, 'steps between draws', 1);
  if (o.initBatches !== undefined) whole(o.initBatches, 'init batches', 1);
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new Error(`seed must be a whole number ≥ 0, got ${o.seed}`);
}

export function resolveSettings(target: SgldTarget, o: SgldOptions): LlcSettings {
  validateSgldOptions(o);
  const nbetaDefault = defaultNbeta(target.batchSize);
  return {
    epsilon: o.epsilon,
    gamma: o.gamma,
    nbeta: o.nbeta ?? nbetaDefault,
    nbetaDefault,
    chains: o.chains,
    draws: o.draws,
    burnIn: o.burnIn,
    stepsBetweenDraws: o.stepsBetweenDraws,
    seed: o.seed,
    initBatches: o.initBatches ?? o.chains,
    batchSize: target.batchSize,
    pairedBaseline: o.pairedBaseline === true,
    sampled: rangesSize(o.ranges ?? allRanges(target.size)),
    size: target.size,
  };
}

/**
 * RNG streams: the same chain sees the same minibatches (and noise stream) whatever is sampled. L(w*) is
 * measured on minibatches from a fixed stream, not the sampler's seed: it is the loss of the checkpoint
 * (like a fixed evaluation set), so two sampler seeds differ only in their chains; its own error is
 * reported (baselineStderr) and shrinks with more initBatches.
 */
const BASELINE_SEED = 0x11c;
const BASELINE_STREAM = 0;
const batchStream = (chain: number): number => 2 * chain + 1;
const noiseStream = (chain: number): number => 2 * chain + 2;

/** L(w*): the mean loss over `initBatches` minibatches at w (the target's loaded parameters). */
export function baselineLoss<B>(target: SgldTarget<B>, w0: Float32Array, initBatches: number): Baseline {
  target.load(w0);
  const rng = new Rng(BASELINE_SEED, BASELINE_STREAM);
  const ls: number[] = [];
  for (let k = 0; k < initBatches; k++) ls.push(target.evaluate(target.drawBatch(rng), null, []));
  const mean = ls.reduce((s, x) => s + x, 0) / ls.length;
  const std = ls.length > 1 ? Math.sqrt(ls.reduce((s, x) => s + (x - mean) ** 2, 0) / (ls.length - 1)) : 0;
  return { initLoss: mean, initLossStd: std, initBatches };
}

/**
 * L_m(w*) of paired draws by chain and step. Chain c's minibatches depend on (seed, c) only, so every
 * restriction of one point (the model and each head) pairs its draw at step i with the same L_m(w*): kept
 * here, a per-head pass computes each once instead of once per head. Valid for one target, point and seed.
 */
export type PairedLosses = Map<number, Map<number, number>>;

export interface SampleContext {
  /** Reuse this kernel's memory (its size must equal the target's; a target's hostKernel() comes first). */
  kernel?: SgldKernel;
  /** Reuse an L(w*) computed once for several restrictions of the same point. */
  baseline?: Baseline;
  /** Reuse (and fill) the paired draws' L_m(w*) of other restrictions of the same point and seed. */
  pairedLosses?: PairedLosses;
}

/** Runs the chains of one estimate. */
export function sampleChains<B>(
  target: SgldTarget<B>,
  w0: Float32Array,
  o: SgldOptions,
  ctx: SampleContext = {},
): { settings: LlcSettings; baseline: Baseline; chains: ChainResult[]; cancelled: boolean } {
  const settings = resolveSettings(target, o);
  if (w0.length !== target.size) throw new Error(`w* has ${w0.length} values, the target ${target.size}`);
  const ranges = o.ranges ?? allRanges(target.size);
  for (const [a, b] of ranges)
    if (!(Number.isInteger(a) && Number.isInteger(b) && 0 <= a && a < b && b <= target.size))
      throw new Error(`bad coordinate range [${a}, ${b}) for ${target.size} parameters`);
  const baseline = ctx.baseline ?? baselineLoss(target, w0, settings.initBatches);
  const kernel = target.hostKernel?.() ?? ctx.kernel ?? new SgldKernel(target.size);
  // Hosted: w is the target's parameters (no update() copy), g its gradient (no copy out of evaluate).
  const inPlace = kernel.hosted;
  if (kernel.size !== target.size)
    throw new Error(`the kernel holds ${kernel.size} parameters, the target ${target.size}`);
  kernel.setRanges(ranges);
  const { epsilon: eps, gamma, nbeta, draws, burnIn, stepsBetweenDraws: every } = settings;
  const steps = burnIn + draws * every;
  const L0 = baseline.initLoss;
  const limit = target.divergenceLoss ? target.divergenceLoss(L0) : L0 + (10 * settings.sampled) / nbeta;
  const chains: ChainResult[] = [];
  let cancelled = false;
  for (const c of o.chainIds ?? Array.from({ length: settings.chains }, (_, i) => i)) {
    if (cancelled) break;
    kernel.w.set(w0);
    kernel.w0.set(w0);
    target.load(w0);
    kernel.seed(settings.seed, noiseStream(c));
    const rng = new Rng(settings.seed, batchStream(c));
    let paired: Map<number, number> | undefined;
    if (ctx.pairedLosses && settings.pairedBaseline) {
      paired = ctx.pairedLosses.get(c) ?? new Map<number, number>();
      ctx.pairedLosses.set(c, paired);
    }
    const r: ChainResult = {
      chain: c,
      llc: NaN,
      loss: [],
      ...(settings.pairedBaseline ? { baselineLoss: [] } : {}),
      distance: [],
      gradNorm: [],
      acceptance: [],
      acceptanceDevinterp: [],
      meanAcceptance: NaN,
      meanAcceptanceDevinterp: NaN,
      diverged: false,
      steps: 0,
    };
    let accSum = 0,
      accN = 0,
      accDSum = 0,
      prevU = NaN,
      lastAcc: number | null = null,
      lastAccD: number | null = null;
    for (let i = 0; i < steps; i++) {
      const batch = target.drawBatch(rng);
      if (i > 0 && !inPlace) target.update(kernel.w, ranges);
      const loss = target.evaluate(batch, kernel.g, ranges);
      const st = kernel.step(eps, nbeta, gamma, i > 0);
      r.steps = i + 1;
      if (!Number.isFinite(loss) || !Number.isFinite(st.grad2) || !Number.isFinite(st.noise2)) {
        r.diverged = true;
        r.divergence = `non-finite ${Number.isFinite(loss) ? 'gradient' : 'loss'} at step ${i}`;
        break;
      }
      const U = nbeta * loss + 0.5 * gamma * st.dist2;
      if (i > 0) {
        // Transition w_{i−1} → w_i, evaluated now that the drift at w_i is known.
        const acc = Math.min(1, Math.exp(-st.dU + st.logQRatio));
        const accD = Math.min(1, Math.exp(-(U - prevU) + st.logQRatio));
        lastAcc = Number.isFinite(acc) ? acc : 0;
        lastAccD = Number.isFinite(accD) ? accD : 0;
        accSum += lastAcc;
        accDSum += lastAccD;
        accN++;
      }
      prevU = U;
      if (i >= burnIn && (i + 1 - burnIn) % every === 0) {
        r.loss.push(loss);
        r.distance.push(Math.sqrt(st.dist2));
        r.gradNorm.push(Math.sqrt(st.grad2));
        if (r.baselineLoss) {
          let l0 = paired?.get(i);
          if (l0 === undefined) {
            // w* on the same minibatch (the next step's update puts the chain's point back).
            if (inPlace) kernel.swapW0(ranges);
            else target.update(kernel.w0, ranges);
            l0 = target.evaluate(batch, null, ranges);
            if (inPlace) kernel.swapW0(ranges);
            else target.update(kernel.w, ranges);
            paired?.set(i, l0);
          }
          r.baselineLoss.push(l0);
        }
        r.acceptance.push(lastAcc);
        r.acceptanceDevinterp.push(lastAccD);
        if (loss > limit) {
          r.diverged = true;
          r.divergence = `loss ${loss.toPrecision(4)} above ${limit.toPrecision(4)} at step ${i}`;
          break;
        }
      }
      if (o.onStep?.(c, i, steps) === true) {
        cancelled = true;
        break;
      }
    }
    r.meanAcceptance = accN ? accSum / accN : NaN;
    r.meanAcceptanceDevinterp = accN ? accDSum / accN : NaN;
    if (!r.diverged && r.loss.length) r.llc = nbeta * mean(excess(r, L0));
    chains.push(r);
  }
  return { settings, baseline, chains, cancelled };
}

/** Combines chains (from one or several workers) into the estimate. */
export function summarize(
  settings: LlcSettings,
  baseline: Baseline,
  chains: ChainResult[],
  cancelled: boolean,
  seconds: number,
): LlcEstimate {
  const sorted = [...chains].sort((a, b) => a.chain - b.chain);
  const ok = sorted.filter((c) => !c.diverged && c.loss.length > 0);
  const llcs = ok.map((c) => c.llc);
  const m = llcs.length ? mean(llcs) : NaN;
  const sd = llcs.length > 1 ? std(llcs) : llcs.length === 1 ? 0 : NaN;
  // Paired draws do not use L(w*): its error does not enter.
  const baselineStderr = settings.pairedBaseline
    ? 0
    : (settings.nbeta * baseline.initLossStd) / Math.sqrt(baseline.initBatches);
  const chainStderr = llcs.length ? sd / Math.sqrt(llcs.length) : NaN;
  // Running estimate per draw, over the chains that reached that draw.
  const runMean: number[] = [],
    runStd: number[] = [];
  const sums = ok.map(() => 0);
  for (let k = 0; k < settings.draws; k++) {
    const vals: number[] = [];
    ok.forEach((c, j) => {
      if (k < c.loss.length) {
        sums[j] += drawExcess(c, k, baseline.initLoss);
        vals.push(settings.nbeta * (sums[j] / (k + 1)));
      }
    });
    if (!vals.length) break;
    runMean.push(mean(vals));
    runStd.push(vals.length > 1 ? std(vals) : 0);
  }
  const accs = ok.map((c) => c.meanAcceptance).filter(Number.isFinite);
  const accsD = ok.map((c) => c.meanAcceptanceDevinterp).filter(Number.isFinite);
  return {
    settings,
    initLoss: baseline.initLoss,
    initLossStd: baseline.initLossStd,
    mean: m,
    std: sd,
    stderr: Math.hypot(chainStderr, baselineStderr),
    chainStderr,
    baselineStderr,
    running: { mean: runMean, std: runStd },
    meanAcceptance: accs.length ? mean(accs) : NaN,
    meanAcceptanceDevinterp: accsD.length ? mean(accsD) : NaN,
    chains: sorted,
    cancelled,
    seconds,
  };
}

/** One LLC estimate at w0: every chain in this thread. */
export function estimateLlc<B>(
  target: SgldTarget<B>,
  w0: Float32Array,
  o: SgldOptions,
  ctx: SampleContext = {},
): LlcEstimate {
  const t0 = performance.now();
  const r = sampleChains(target, w0, o, ctx);
  return summarize(r.settings, r.baseline, r.chains, r.cancelled, (performance.now() - t0) / 1000);
}

/** L_m(w_draw) − the baseline of draw k: L_m(w*) on the same minibatch when paired, else L(w*). */
export function drawExcess(c: Pick<ChainResult, 'loss' | 'baselineLoss'>, k: number, initLoss: number): number {
  return c.loss[k] - (c.baselineLoss ? c.baselineLoss[k] : initLoss);
}

/** Every draw's excess loss of a chain. */
export function excess(c: Pick<ChainResult, 'loss' | 'baselineLoss'>, initLoss: number): number[] {
  return c.loss.map((_, k) => drawExcess(c, k, initLoss));
}

export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}
/** Sample standard deviation (N − 1), as torch.std. */
export function std(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return Math.sqrt(s / (a.length - 1));
}
