/**
 * `induction-lab llc RUN_DIR [--checkpoints …] [--per-head | --heads …] [--calibrate] [--clean] [--follow]
 * [SGLD options]`: the local learning coefficient of a run's checkpoints (sampler.ts), optionally per
 * head, cached in RUN_DIR/llc/<mode>/ (store.ts, src/shared/llc.ts), with stages read from the curve
 * (stages.ts), diagnostics next to every number (diagnostics.ts) and an ε × nβ calibration grid
 * (calibrate.ts). Work runs on one worker thread per core (pool.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunDir, CheckpointRef, liveRunStatus, summaryPath, writeFileAtomic, writeJsonAtomic } from '../io';
import { readRunConfig } from '../measures/dense';
import { canonicalJson } from '../measures/cache';
import { learningTime } from '../measures/learningTime';
import { ClampSpec, describeClamp } from '../clamps/spec';
import { formatHead, parseHead } from '../clamps/heads';
import { RunConfig } from '../train/runConfig';
import type { CheckpointSummary, MetricsRecord } from '../../shared/protocol';
import type {
  LlcCalibrationFile,
  LlcCalibrationSummary,
  LlcCheckpointFile,
  LlcDetail,
  LlcEngineRecord,
  LlcMode,
  LlcPoint,
  LlcRunFile,
  LlcSettings,
} from '../../shared/llc';
import { ChainResult, SgldOptions, summarize, validateSgldOptions, defaultNbeta, Baseline } from './sampler';
import { diagnosed } from './diagnostics';
import { DEFAULT_EPSILONS, DEFAULT_NBETA_MULTIPLIERS, calibrate } from './calibrate';
import { findStages } from './stages';
import { LlcJob, LlcJobResult } from './jobs';
import { LlcPool, jobSteps } from './pool';
import { ProgressMode, ProgressReporter } from './progress';
import { activeClamps, allHeads, chooseEngine } from './transformerTarget';
import {
  calibrationFile,
  checkpointFile,
  readCheckpointFile,
  summaryOf,
  toDetail,
  writeCheckpointFiles,
  writeRunFiles,
} from './store';
import { calibrationCsv, calibrationSvg } from './svg';

/**
 * Defaults for this project's transformer (66,629 weights), chosen by calibrating a `fast` run (docs/llc.md):
 * nβ is devinterp's m / ln m; ε and γ keep every chain of every checkpoint of that run from diverging with
 * flattened traces. devinterp's library defaults (ε 0.01, γ 0) diverge on this model at once.
 */
export const LLC_DEFAULTS = {
  epsilon: 3e-5,
  gamma: 1e4,
  chains: 10,
  draws: 100,
  burnIn: 0,
  stepsBetweenDraws: 1,
  seed: 0,
};

/**
 * Defaults of a head's (weight-refined) estimate, unless --epsilon / --gamma / --nbeta are given (then they
 * apply to both). With the model's settings a head's 2,048 weights barely move the loss (λ̂ ≈ 0.001–0.007,
 * within its noise); ten times the inverse temperature and a tenth of the localisation make the heads'
 * differences visible (docs/llc.md). The chain counts are the model's.
 */
export const HEAD_DEFAULTS = { epsilon: 1e-4, gamma: 1e3, nbetaMultiplier: 10 };

export const LLC_FORMULA =
  'SGLD Δw = (ε/2)·(nβ·∇L_m(w) + γ·(w − w*)) + N(0, ε);  λ̂ = nβ·(mean over draws of L_m(w) − L(w*)), mean ± std ' +
  'over chains';

export interface LlcCommandArgs {
  runDir: string;
  checkpoints?: string;
  perHead?: boolean;
  heads?: string;
  calibrate?: boolean;
  clean?: boolean;
  follow?: boolean;
  force?: boolean;
  json?: boolean;
  epsilon?: string;
  gamma?: string;
  nbeta?: string;
  chains?: string;
  draws?: string;
  burnIn?: string;
  stepsBetweenDraws?: string;
  batchSize?: string;
  seed?: string;
  initBatches?: string;
  epsilons?: string;
  nbetaMultipliers?: string;
  /** Pair the whole model's draws with w* on the same minibatch too (heads always are). */
  paired?: boolean;
  workers?: string;
  engine?: string;
  progress?: string;
}

export interface LlcIo {
  out: (line: string) => void;
  /** Progress lines (stderr). */
  err?: (s: string) => void;
  shouldStop?: () => boolean;
  /** Follow mode: milliseconds between polls of the run folder (default 2000). */
  pollMs?: number;
}

function parseNum(
  name: string,
  v: string | undefined,
  o: { integer?: boolean; min?: number; positive?: boolean },
): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  const bad =
    v.trim() === '' ||
    !Number.isFinite(x) ||
    (o.integer && !Number.isInteger(x)) ||
    (o.positive && !(x > 0)) ||
    (o.min !== undefined && x < o.min);
  if (bad) {
    const what = o.integer
      ? `a whole number${o.min !== undefined ? ` ≥ ${o.min}` : ''}`
      : o.positive
        ? 'a number > 0'
        : `a number${o.min !== undefined ? ` ≥ ${o.min}` : ''}`;
    throw new Error(`--${name} must be ${what}, got "${v}"`);
  }
  return x;
}

function parseList(name: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!xs.length) throw new Error(`--${name} needs a comma list of numbers > 0`);
  return xs.map((s) => parseNum(name, s, { positive: true })!);
}

/** Checkpoints by `all` (default), `latest`, `N` (N spread evenly over log sequences) or a comma list. */
export function selectCheckpoints(all: CheckpointRef[], spec = 'all'): CheckpointRef[] {
  const s = spec.trim();
  if (s === 'all') return all;
  if (s === 'latest') return all.slice(-1);
  if (/^\d+$/.test(s) && !s.includes(',') && Number(s) <= all.length && !all.some((c) => c.sequences === Number(s))) {
    const n = Number(s);
    if (n < 1) throw new Error('--checkpoints N needs N ≥ 1');
    if (n >= all.length) return all;
    const pos = all.filter((c) => c.sequences > 0),
      lx = pos.map((c) => Math.log(c.sequences));
    const picked = new Set<CheckpointRef>();
    for (let i = 0; i < n; i++) {
      const target = lx[0] + ((lx[lx.length - 1] - lx[0]) * i) / Math.max(1, n - 1);
      let best = 0;
      lx.forEach((x, k) => {
        if (Math.abs(x - target) < Math.abs(lx[best] - target)) best = k;
      });
      picked.add(pos[best]);
    }
    return all.filter((c) => picked.has(c));
  }
  const want = s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const out: CheckpointRef[] = [];
  for (const w of want) {
    if (!/^\d+$/.test(w))
      throw new Error(`--checkpoints takes all, latest, N or a comma list of sequence counts, got "${w}"`);
    const hit = all.find((c) => c.sequences === Number(w));
    if (!hit)
      throw new Error(
        `checkpoint ${w} does not exist (available: ${
          all.length <= 12
            ? all.map((c) => c.sequences).join(', ')
            : `${all
                .slice(0, 5)
                .map((c) => c.sequences)
                .join(', ')}, … ${all
                .slice(-3)
                .map((c) => c.sequences)
                .join(', ')}`
        })`,
      );
    if (!out.includes(hit)) out.push(hit);
  }
  return out.sort((a, b) => a.sequences - b.sequences);
}

interface Plan {
  rd: RunDir;
  run: RunConfig;
  mode: LlcMode;
  heads: string[];
  options: Omit<SgldOptions, 'ranges' | 'onStep' | 'chainIds'>;
  /** The heads' options (HEAD_DEFAULTS where the user gave none). */
  headOptions: Omit<SgldOptions, 'ranges' | 'onStep' | 'chainIds'>;
  batchSize: number;
  engine: 'auto' | 'fast' | 'tfjs';
  workers: number;
  progress: ProgressMode;
  key: string;
}

/** Validates everything before any file is written; throws one clear line. */
function plan(a: LlcCommandArgs): Plan {
  const options: Plan['options'] = {
    epsilon: parseNum('epsilon', a.epsilon, { positive: true }) ?? LLC_DEFAULTS.epsilon,
    gamma: parseNum('gamma', a.gamma, { min: 0 }) ?? LLC_DEFAULTS.gamma,
    nbeta: parseNum('nbeta', a.nbeta, { positive: true }),
    chains: parseNum('chains', a.chains, { integer: true, min: 1 }) ?? LLC_DEFAULTS.chains,
    draws: parseNum('draws', a.draws, { integer: true, min: 1 }) ?? LLC_DEFAULTS.draws,
    burnIn: parseNum('burn-in', a.burnIn, { integer: true, min: 0 }) ?? LLC_DEFAULTS.burnIn,
    stepsBetweenDraws:
      parseNum('steps-between-draws', a.stepsBetweenDraws, { integer: true, min: 1 }) ?? LLC_DEFAULTS.stepsBetweenDraws,
    seed: parseNum('seed', a.seed, { integer: true, min: 0 }) ?? LLC_DEFAULTS.seed,
    initBatches: parseNum('init-batches', a.initBatches, { integer: true, min: 1 }),
    pairedBaseline: a.paired === true,
  };
  validateSgldOptions(options);
  const engine = (a.engine ?? 'auto') as Plan['engine'];
  if (!['auto', 'fast', 'tfjs'].includes(engine))
    throw new Error(`--engine must be auto, fast or tfjs, got "${a.engine}"`);
  const progress = (a.progress ?? 'text') as ProgressMode;
  if (!['text', 'json', 'none'].includes(progress))
    throw new Error(`--progress must be json, text or none, got "${a.progress}"`);
  const workers = parseNum('workers', a.workers, { integer: true, min: 1 }) ?? os.availableParallelism();
  const rd = RunDir.open(a.runDir);
  const run = readRunConfig(rd);
  const batchSize = parseNum('batch-size', a.batchSize, { integer: true, min: 2 }) ?? run.train.batchSize;
  let heads: string[] = [];
  if (a.heads !== undefined) {
    heads = a.heads
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean)
      .map((h) => formatHead(parseHead(h, run.model.depth, run.model.numHeads)));
    if (!heads.length) throw new Error('--heads needs a comma list of heads, e.g. L1H2,L2H3');
  } else if (a.perHead) heads = allHeads(run.model);
  const mode: LlcMode = a.clean ? 'clean' : 'as-trained';
  const headOptions = {
    ...options,
    epsilon: a.epsilon !== undefined ? options.epsilon : HEAD_DEFAULTS.epsilon,
    gamma: a.gamma !== undefined ? options.gamma : HEAD_DEFAULTS.gamma,
    nbeta: options.nbeta ?? HEAD_DEFAULTS.nbetaMultiplier * defaultNbeta(batchSize),
  };
  const key = canonicalJson({
    ...options,
    nbeta: options.nbeta ?? defaultNbeta(batchSize),
    batchSize,
    mode,
    engine,
    heads: { paired: true, epsilon: headOptions.epsilon, gamma: headOptions.gamma, nbeta: headOptions.nbeta },
  });
  return { rd, run, mode, heads: [...new Set(heads)], options, headOptions, batchSize, engine, workers, progress, key };
}

function engineRecord(p: Plan, sequences: number): LlcEngineRecord {
  const clamps = p.mode === 'clean' ? [] : activeClamps(p.run.clamps, sequences);
  const c = chooseEngine(p.run.model, clamps, p.engine);
  return { engine: c.engine, detail: c.detail, reason: c.reason };
}

function clampsNote(p: Plan, refs: CheckpointRef[]): string {
  if (p.mode === 'clean')
    return p.run.clamps.length
      ? `clean: the run's clamps (${p.run.clamps.map(describeClamp).join('; ')}) removed while sampling`
      : 'clean (the run has no clamps)';
  if (!p.run.clamps.length) return 'as trained (the run has no clamps)';
  const windows = p.run.clamps.some((c) => c.from !== undefined || c.until !== undefined);
  const some = refs.some((r) => activeClamps(p.run.clamps, r.sequences).length > 0);
  return (
    `as trained: the run's clamps ${windows ? 'active at each checkpoint ' : ''}applied while sampling ` +
    `(${p.run.clamps.map(describeClamp).join('; ')})${some ? '' : '; none is active at these checkpoints'}`
  );
}

/** Splits an estimate's chains into `parts` jobs (when there are fewer estimates than workers). */
function chainSlices(chains: number, parts: number): number[][] {
  const n = Math.max(1, Math.min(parts, chains));
  return Array.from({ length: n }, (_, i) => Array.from({ length: chains }, (_, c) => c).filter((c) => c % n === i));
}

interface Need {
  ref: CheckpointRef;
  model: boolean;
  heads: string[];
  cached: LlcCheckpointFile | null;
}

/** Runs the missing estimates of one checkpoint and writes its file. */
async function computeCheckpoint(
  p: Plan,
  need: Need,
  pool: LlcPool,
  progress: ProgressReporter,
  io: LlcIo,
): Promise<LlcCheckpointFile | null> {
  const targets: Array<string | null> = [...(need.model ? [null] : []), ...need.heads];
  const per = chainSlices(p.options.chains, Math.ceil(pool.workers / Math.max(1, targets.length)));
  const jobs: LlcJob[] = [];
  const owner = new Map<number, string | null>();
  for (const t of targets)
    for (const ids of per) {
      const id = jobs.length;
      owner.set(id, t);
      jobs.push({
        id,
        runDir: p.rd.path,
        sequences: need.ref.sequences,
        clean: p.mode === 'clean',
        head: t,
        options: { ...(t === null ? p.options : p.headOptions), chainIds: ids },
        batchSize: p.batchSize,
        engine: p.engine,
      });
    }
  const results = await pool.run(jobs, {
    onSteps: (n) => progress.add(n, `checkpoint ${need.ref.sequences}`),
    shouldStop: io.shouldStop,
  });
  if (results.length < jobs.length || results.some((r) => r.cancelled)) return null;
  const by = new Map<string | null, LlcJobResult[]>();
  for (const r of results) by.set(owner.get(r.id)!, [...(by.get(owner.get(r.id)!) ?? []), r]);
  const detail = (rs: LlcJobResult[]): { d: LlcDetail; settings: LlcSettings } => {
    const chains: ChainResult[] = rs.flatMap((r) => r.chains);
    const baseline: Baseline = rs[0].baseline;
    const est = summarize(
      rs[0].settings,
      baseline,
      chains,
      false,
      rs.reduce((s, r) => s + r.seconds, 0),
    );
    return { d: toDetail(diagnosed(est)), settings: rs[0].settings };
  };
  const prev = need.cached;
  const heads: Record<string, LlcDetail> = { ...(prev?.heads ?? {}) };
  let model = prev?.model;
  for (const [t, rs] of by) {
    const { d } = detail(rs);
    if (t === null) model = d;
    else heads[t] = d;
  }
  // The file's settings describe the whole model's estimate (sampled = every weight); a head samples
  // 4·D·d of them and is always paired.
  const s0 = { ...(by.get(null)?.[0] ?? results[0]).settings, pairedBaseline: p.options.pairedBaseline === true };
  if (!by.has(null))
    Object.assign(s0, {
      epsilon: p.options.epsilon,
      gamma: p.options.gamma,
      nbeta: p.options.nbeta ?? s0.nbetaDefault,
    });
  const headRes = [...by].find(([t]) => t !== null)?.[1][0];
  const rec: LlcCheckpointFile = {
    format: 'induction-lab/llc-checkpoint-v1',
    sequences: need.ref.sequences,
    step: Math.round(need.ref.sequences / p.run.train.batchSize),
    mode: p.mode,
    clamps: p.mode === 'clean' ? [] : activeClamps(p.run.clamps, need.ref.sequences),
    engine: engineRecord(p, need.ref.sequences),
    settings: { ...s0, sampled: s0.size },
    ...(headRes || prev?.headSettings ? { headSettings: headRes ? { ...headRes.settings } : prev!.headSettings } : {}),
    ...(model ? { model } : {}),
    heads,
    key: p.key,
    created: new Date().toISOString(),
  };
  writeCheckpointFiles(p.rd.path, rec);
  return rec;
}

/** The metrics row of a checkpoint (the last evaluation at or before it). */
function metricsAt(rows: MetricsRecord[], sequences: number): MetricsRecord | null {
  let best: MetricsRecord | null = null;
  for (const r of rows) if (r.sequences <= sequences && (!best || r.sequences >= best.sequences)) best = r;
  return best;
}

/**
 * Every checkpoint estimated with these settings: the ones just computed or read, plus any other valid
 * cached file of the mode (an earlier call with other --checkpoints), so llc.json holds the whole curve.
 */
function withCached(p: Plan, recs: LlcCheckpointFile[]): LlcCheckpointFile[] {
  const have = new Set(recs.map((r) => r.sequences));
  const more: LlcCheckpointFile[] = [];
  for (const ref of p.rd.listCheckpoints()) {
    if (have.has(ref.sequences)) continue;
    const rec = readCheckpointFile(checkpointFile(p.rd.path, p.mode, ref.sequences), p.key, ref.path);
    if (rec) more.push(rec);
  }
  return [...recs, ...more].sort((a, b) => a.sequences - b.sequences);
}

function buildRunFile(p: Plan, computed: LlcCheckpointFile[], refs: CheckpointRef[]): LlcRunFile {
  const recs = withCached(p, computed);
  const metrics = p.rd.readMetrics<MetricsRecord>();
  const points: LlcPoint[] = recs.map((r) => {
    // The checkpoint's own summary (written with it, evaluated at exactly that point), else the last
    // evaluation before it.
    let at: { loss: number | null; is: number[] | null; pt: number[] | null } | null = null;
    try {
      const sm = JSON.parse(
        fs.readFileSync(summaryPath(p.rd.checkpointPath(r.sequences)), 'utf8'),
      ) as CheckpointSummary;
      at = { loss: sm.eval?.fsl_train?.loss ?? null, is: sm.inductionStrength ?? null, pt: sm.prevTokenScore ?? null };
    } catch {
      /* older runs: no summary */
    }
    const m = at ? null : metricsAt(metrics, r.sequences);
    return {
      sequences: r.sequences,
      step: r.step,
      ...(r.model ? { model: { ...summaryOf(r.model), running: r.model.running } } : {}),
      heads: Object.fromEntries(Object.entries(r.heads).map(([h, d]) => [h, summaryOf(d)])),
      ablatedHeads: (r.clamps as ClampSpec[]).flatMap((c) => (c.kind === 'ablate' ? c.heads : [])),
      trainLoss: at ? at.loss : (m?.eval?.fsl_train?.loss ?? null),
      inductionStrength: at ? at.is : (m?.inductionStrength ?? null),
      prevTokenScore: at ? at.pt : (m?.prevTokenScore ?? null),
    };
  });
  const stages = findStages(
    points
      .filter((x) => x.model && x.model.mean !== null)
      .map((x) => ({ sequences: x.sequences, llc: x.model!.mean!, stderr: x.model!.stderr ?? NaN })),
  );
  const lrows = metrics.filter((r) => r.eval?.fsl_train && Number.isFinite(r.eval.fsl_train.loss));
  const lt = lrows.length
    ? learningTime(
        lrows.map((r) => r.sequences),
        lrows.map((r) => r.eval.fsl_train.loss),
      )
    : null;
  const first = recs[0];
  return {
    format: 'induction-lab/llc-v1',
    run: p.rd.path,
    mode: p.mode,
    clampsNote: clampsNote(p, refs),
    engine: first ? first.engine : engineRecord(p, refs[0]?.sequences ?? 0),
    settings: first?.settings ?? ({} as LlcSettings),
    ...(recs.find((r) => r.headSettings) ? { headSettings: recs.find((r) => r.headSettings)!.headSettings } : {}),
    formula: LLC_FORMULA,
    points,
    stages,
    learningTime: {
      sequences: lt,
      reached: lrows.some((r) => r.eval.fsl_train.loss < 0.4 * Math.LN2),
      formula: 't = min { x_k : fsl_train loss_k < 0.4·ln 2 } (spec §5.10)',
    },
    created: new Date().toISOString(),
  };
}

const fmt = (x: number | null | undefined, d = 2): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(d);

function printRun(f: LlcRunFile, heads: string[], out: (l: string) => void): void {
  const s = f.settings;
  const isDefault = Math.abs(s.nbeta - s.nbetaDefault) < 1e-9;
  const nbetaNote = isDefault
    ? ` (default m / ln m, m = ${s.batchSize})`
    : ` (default would be ${fmt(s.nbetaDefault, 3)})`;
  const every = `a draw every ${s.stepsBetweenDraws} step${s.stepsBetweenDraws > 1 ? 's' : ''}`;
  out(
    `settings: ε ${s.epsilon}, γ ${s.gamma}, nβ ${fmt(s.nbeta, 3)}${nbetaNote}, ` +
      `${s.chains} chains × ${s.draws} draws, ` +
      `burn-in ${s.burnIn}, ${every}, seed ${s.seed}, L(w*) over ${s.initBatches} minibatches` +
      `${s.pairedBaseline ? ' (and each draw against w* on its own minibatch)' : ''}`,
  );
  out(`formula: ${f.formula}`);
  const hasModel = f.points.some((p) => p.model);
  if (hasModel) {
    out('');
    const rows = f.points
      .filter((p) => p.model)
      .map((p) => [
        String(p.sequences),
        fmt(p.model!.mean),
        fmt(p.model!.std),
        fmt(p.model!.initLoss, 4),
        fmt(p.model!.meanAcceptance),
        fmt(p.trainLoss, 4),
        p.inductionStrength ? fmt(Math.max(...p.inductionStrength)) : '—',
        p.model!.warnings.map((w) => w.code).join(' ') || 'ok',
      ]);
    table(['sequences', 'LLC', '± std', 'L(w*)', 'MALA', 'eval loss', 'max IS', 'warnings'], rows, out);
  }
  if (heads.length && f.headSettings) {
    const h = f.headSettings;
    out(
      `\nheads: ε ${h.epsilon}, γ ${h.gamma}, nβ ${fmt(h.nbeta, 3)}, ${h.chains} chains × ${h.draws} draws, each ` +
        `draw against w* on its own minibatch, ${h.sampled} weights per head`,
    );
  }
  if (heads.length) {
    out(
      "per-head LLC (weight-refined: the head's Q, K, V rows and W_proj columns; * = warnings, (a) = ablated by the " +
        'clamps)',
    );
    const rows = f.points.map((p) => [
      String(p.sequences),
      ...heads.map((h) => {
        const x = p.heads[h];
        return x ? `${fmt(x.mean)}${x.warnings.length ? '*' : ''}${p.ablatedHeads.includes(h) ? '(a)' : ''}` : '—';
      }),
    ]);
    table(['sequences', ...heads], rows, out);
  }
  const warned = f.points.flatMap((p) => [
    ...(p.model?.warnings ?? []).map((w) => ({ p: p.sequences, t: 'model', w })),
    ...Object.entries(p.heads).flatMap(([h, x]) => x.warnings.map((w) => ({ p: p.sequences, t: h, w }))),
  ]);
  if (warned.length) {
    out(`\nwarnings (${warned.length}):`);
    for (const x of warned.slice(0, 12)) out(`  ${x.p} ${x.t}: ${x.w.message}`);
    if (warned.length > 12) out(`  … ${warned.length - 12} more in llc.json / llc.csv`);
  }
  const st = f.stages;
  if (st.boundaries.length) {
    out(`\nstages (${st.method}):`);
    for (const g of st.stages)
      out(`  ${g.index + 1}. ${g.from} – ${g.until} sequences: LLC ${g.trend} ${fmt(g.llcFrom)} → ${fmt(g.llcUntil)}`);
  } else if (hasModel) out('\nstages: no critical point of the LLC curve stands above its noise');
  if (f.learningTime.sequences !== null)
    out(
      `learning time of the loss: ${f.learningTime.sequences} ` +
        `sequences${f.learningTime.reached ? '' : ' (threshold never reached)'} (${f.learningTime.formula})`,
    );
}

function table(headers: string[], rows: string[][], out: (l: string) => void): void {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = (i: number) => i === 0 || headers[i] === 'warnings';
  const line = (r: string[]) =>
    r
      .map((c, i) => (left(i) ? c.padEnd(w[i]) : c.padStart(w[i])))
      .join('  ')
      .trimEnd();
  out(line(headers));
  out(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows) out(line(r));
}

/** What has to be computed for each checkpoint, given the cache. */
function needs(p: Plan, refs: CheckpointRef[], force: boolean): Need[] {
  return refs.map((ref) => {
    const cached = force ? null : readCheckpointFile(checkpointFile(p.rd.path, p.mode, ref.sequences), p.key, ref.path);
    return { ref, model: !cached?.model, heads: p.heads.filter((h) => !cached?.heads[h]), cached };
  });
}

async function estimateAll(
  p: Plan,
  refs: CheckpointRef[],
  a: LlcCommandArgs,
  io: LlcIo,
  pool: LlcPool,
): Promise<{ recs: LlcCheckpointFile[]; cancelled: boolean; computed: number }> {
  const list = needs(p, refs, !!a.force);
  const stepsPer = (n: Need) => (Number(n.model) + n.heads.length) * jobSteps({ options: p.options } as LlcJob);
  const progress = new ProgressReporter(
    p.progress,
    'llc',
    list.reduce((s, n) => s + stepsPer(n), 0),
    'SGLD steps',
    io.err,
  );
  const recs: LlcCheckpointFile[] = [];
  let cancelled = false,
    computed = 0;
  for (const n of list) {
    if (!n.model && n.heads.length === 0) {
      recs.push(n.cached!);
      continue;
    }
    if (cancelled || io.shouldStop?.()) {
      cancelled = true;
      if (n.cached) recs.push(n.cached);
      continue;
    }
    const rec = await computeCheckpoint(p, n, pool, progress, io);
    if (rec) {
      recs.push(rec);
      computed++;
    } else {
      cancelled = true;
      if (n.cached) recs.push(n.cached);
    }
  }
  progress.finish(cancelled ? 'cancelled' : 'done');
  return { recs: recs.sort((x, y) => x.sequences - y.sequences), cancelled, computed };
}

export async function llcCommand(a: LlcCommandArgs, io: LlcIo): Promise<LlcRunFile | LlcCalibrationFile[]> {
  const p = plan(a);
  const all = p.rd.listCheckpoints();
  if (!all.length && !a.follow)
    throw new Error(`run ${p.rd.path} has no checkpoints (${p.rd.checkpointsDir} holds no seq-N.safetensors)`);
  const refs = a.follow ? all : selectCheckpoints(all, a.checkpoints ?? (a.calibrate ? '3' : 'all'));
  // --engine fast: throws when the fast engine cannot run a clamp of some checkpoint.
  if (p.engine === 'fast') for (const r of refs) engineRecord(p, r.sequences);
  const eng = refs.length ? engineRecord(p, refs[refs.length - 1].sequences) : null;
  io.out(`run ${p.rd.path}`);
  io.out(
    `${refs.length} checkpoint${refs.length === 1 ? '' : 's'} · ${clampsNote(p, refs)} · ` +
      `${eng ? `${eng.detail}${eng.reason ? ` (${eng.reason})` : ''}` : ''} · ${p.workers} ` +
      `worker${p.workers > 1 ? 's' : ''}`,
  );
  if (p.heads.length)
    io.out(`per-head LLC for ${p.heads.length} head${p.heads.length > 1 ? 's' : ''}: ${p.heads.join(', ')}`);
  const pool = new LlcPool(p.workers);
  try {
    if (a.calibrate) return await calibrationCommand(p, refs, a, io, pool);
    if (!a.follow) {
      const { recs, cancelled } = await estimateAll(p, refs, a, io, pool);
      const f = buildRunFile(p, recs, refs);
      const files = recs.length ? writeRunFiles(p.rd.path, f) : [];
      printRun(f, p.heads, io.out);
      io.out(
        `\n${cancelled ? 'cancelled: ' : ''}wrote ` +
          `${files.map((x) => path.relative(p.rd.path, x)).join(', ') || 'nothing'} in ${p.rd.path}`,
      );
      return f;
    }
    // Follow: estimate checkpoints as they arrive until the run stops and nothing is left.
    let f = buildRunFile(p, [], refs);
    for (;;) {
      const now = p.rd.listCheckpoints();
      const { recs, cancelled, computed } = await estimateAll(p, now, a, io, pool);
      if (recs.length && (computed || cancelled)) {
        f = buildRunFile(p, recs, now);
        writeRunFiles(p.rd.path, f);
      }
      if (computed)
        io.out(
          `${new Date().toISOString().slice(11, 19)} ${recs.length} checkpoints estimated (latest ` +
            `${recs[recs.length - 1]?.sequences})`,
        );
      // Still training: its writer holds the run lock (a `running` run.json whose writer is gone is interrupted).
      const live = liveRunStatus(p.rd.path).status === 'running';
      if (cancelled || io.shouldStop?.()) break;
      if (!live && p.rd.listCheckpoints().length === now.length) {
        f = buildRunFile(p, recs, now);
        if (recs.length) writeRunFiles(p.rd.path, f);
        break;
      }
      await new Promise((r) => setTimeout(r, io.pollMs ?? 2000));
    }
    printRun(f, p.heads, io.out);
    return f;
  } finally {
    await pool.close();
  }
}

async function calibrationCommand(
  p: Plan,
  refs: CheckpointRef[],
  a: LlcCommandArgs,
  io: LlcIo,
  pool: LlcPool,
): Promise<LlcCalibrationFile[]> {
  const epsilons = parseList('epsilons', a.epsilons) ?? DEFAULT_EPSILONS;
  const mults = parseList('nbeta-multipliers', a.nbetaMultipliers) ?? DEFAULT_NBETA_MULTIPLIERS;
  const nbetaDefault = p.options.nbeta ?? defaultNbeta(p.batchSize);
  const perCell = jobSteps({ options: p.options } as LlcJob);
  const progress = new ProgressReporter(
    p.progress,
    'llc-calibrate',
    refs.length * (epsilons.length * mults.length + 3) * perCell,
    'SGLD steps',
    io.err,
  );
  io.out(
    `calibration: ${epsilons.length} ε × ${mults.length} nβ at ${refs.map((r) => r.sequences).join(', ')} (γ ` +
      `${p.options.gamma}, ${p.options.chains} chains × ${p.options.draws} draws)`,
  );
  const files: LlcCalibrationFile[] = [];
  let nextId = 0;
  for (const ref of refs) {
    if (io.shouldStop?.()) break;
    let settings: LlcSettings | null = null;
    // Cells are requested together; a small batcher sends them to the pool as one run.
    const pending: Array<{
      eps: number;
      nbeta: number;
      resolve: (e: ReturnType<typeof summarize>) => void;
      reject: (e: Error) => void;
    }> = [];
    let flush: Promise<void> | null = null;
    const runPending = async (): Promise<void> => {
      await Promise.resolve();
      const batch = pending.splice(0);
      flush = null;
      const jobs: LlcJob[] = batch.map((b) => ({
        id: nextId++,
        runDir: p.rd.path,
        sequences: ref.sequences,
        clean: p.mode === 'clean',
        head: null,
        options: { ...p.options, epsilon: b.eps, nbeta: b.nbeta },
        batchSize: p.batchSize,
        engine: p.engine,
      }));
      try {
        const rs = await pool.run(jobs, {
          onSteps: (n) => progress.add(n, `checkpoint ${ref.sequences}`),
          shouldStop: io.shouldStop,
        });
        batch.forEach((b, i) => {
          const r = rs.find((x) => x.id === jobs[i].id);
          if (!r) {
            b.reject(new Error('calibration cancelled'));
            return;
          }
          settings ??= r.settings;
          b.resolve(summarize(r.settings, r.baseline, r.chains, r.cancelled, r.seconds));
        });
      } catch (e) {
        batch.forEach((b) => b.reject(e as Error));
      }
    };
    const estimate = (eps: number, nbeta: number) =>
      new Promise<ReturnType<typeof summarize>>((resolve, reject) => {
        pending.push({ eps, nbeta, resolve, reject });
        flush ??= runPending();
      });
    let cal;
    try {
      cal = await calibrate({ epsilons, nbetaMultipliers: mults, nbetaDefault, gamma: p.options.gamma, estimate });
    } catch (e) {
      if ((e as Error).message === 'calibration cancelled') break;
      throw e;
    }
    const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);
    const rec: LlcCalibrationFile = {
      format: 'induction-lab/llc-calibration-v1',
      sequences: ref.sequences,
      mode: p.mode,
      engine: engineRecord(p, ref.sequences),
      settings: { ...(settings as unknown as LlcSettings) },
      epsilons,
      nbetaMultipliers: mults,
      nbetaDefault,
      cells: cal.cells.map((c) => ({
        ...c,
        mean: fin(c.mean),
        std: fin(c.std),
        stderr: fin(c.stderr),
        chainStderr: fin(c.chainStderr),
        meanAcceptance: fin(c.meanAcceptance),
        relativeGap: fin(c.relativeGap),
        gapStderr: fin(c.gapStderr),
      })),
      recommendation: cal.recommendation
        ? { ...cal.recommendation, mean: fin(cal.recommendation.mean), std: fin(cal.recommendation.std) }
        : null,
      note: cal.note,
      created: new Date().toISOString(),
    };
    const jf = calibrationFile(p.rd.path, p.mode, ref.sequences, 'json');
    fs.mkdirSync(path.dirname(jf), { recursive: true });
    writeJsonAtomic(jf, rec);
    writeFileAtomic(calibrationFile(p.rd.path, p.mode, ref.sequences, 'csv'), calibrationCsv(rec));
    writeFileAtomic(calibrationFile(p.rd.path, p.mode, ref.sequences, 'svg'), calibrationSvg(rec));
    files.push(rec);
    printCalibration(rec, io.out);
  }
  progress.finish();
  const written = files.map((f) =>
    path
      .relative(p.rd.path, calibrationFile(p.rd.path, p.mode, f.sequences, 'json'))
      .replace(/\.json$/, '.{json,csv,svg}'),
  );
  if (files.length) {
    // One ε for a curve over the run: every checkpoint's chains must have equilibrated, so the largest.
    const recs = files.map((f) => f.recommendation);
    const all = recs.every((r) => r !== null);
    const eps = all ? Math.max(...recs.map((r) => r!.epsilon)) : null;
    const summary: LlcCalibrationSummary = {
      format: 'induction-lab/llc-calibration-summary-v1',
      mode: p.mode,
      gamma: p.options.gamma,
      nbeta: nbetaDefault,
      checkpoints: files.map((f) => ({ sequences: f.sequences, epsilon: f.recommendation?.epsilon ?? null })),
      epsilon: eps,
      note: all
        ? `for a curve over the run use ε = ${eps!.toPrecision(3)} (the largest of the checkpoints' ` +
          `recommendations, so every one has equilibrated), nβ = ${nbetaDefault.toPrecision(4)}, γ = ${p.options.gamma}`
        : `no run-wide recommendation: ${files
            .filter((f) => !f.recommendation)
            .map((f) => f.sequences)
            .join(', ')} had none`,
      created: new Date().toISOString(),
    };
    const sf = path.join(path.dirname(calibrationFile(p.rd.path, p.mode, 0, 'json')), 'summary.json');
    writeJsonAtomic(sf, summary);
    written.push(path.relative(p.rd.path, sf));
    io.out(`\n${summary.note}`);
  }
  io.out(`\nwrote ${written.join(', ') || 'nothing'} in ${p.rd.path}`);
  return files;
}

function printCalibration(c: LlcCalibrationFile, out: (l: string) => void): void {
  out(
    `\ncheckpoint ${c.sequences}: LLC by ε (columns) × nβ (rows; default ${fmt(c.nbetaDefault, 3)}); ★ equilibrated ` +
      `(what the recommendation needs), ✓ healthy, letters = warnings (d diverged, f not flattened, n negative, a ` +
      `MALA < 0.1, s not significant)`,
  );
  const grid = c.cells.filter((x) => !x.refined);
  const letter: Record<string, string> = {
    diverged: 'd',
    'not-flattened': 'f',
    negative: 'n',
    'low-acceptance': 'a',
    'not-significant': 's',
  };
  const rows = c.nbetaMultipliers.map((m) => [
    `×${m} (${fmt(m * c.nbetaDefault, 3)})`,
    ...c.epsilons.map((e) => {
      const x = grid.find((g) => g.epsilon === e && Math.abs(g.nbetaMultiplier - m) < 1e-9);
      if (!x) return '';
      return `${fmt(x.mean)}${mark(x, letter)}`;
    }),
  ]);
  table(['nβ \\ ε', ...c.epsilons.map((e) => e.toExponential(1))], rows, out);
  const refined = c.cells.filter((x) => x.refined);
  if (refined.length) {
    const one = (x: LlcCalibrationFile['cells'][number]) =>
      `ε ${x.epsilon.toExponential(2)} → ${fmt(x.mean)}${x.healthy ? mark(x, letter) : ` (${x.warnings.join(', ')})`}`;
    out(`refined at the default nβ: ${refined.map(one).join('; ')}`);
  }
  out(c.note);
}

/** ★ equilibrated, ✓ healthy, else the warnings' letters. */
function mark(x: LlcCalibrationFile['cells'][number], letter: Record<string, string>): string {
  return x.equilibrated ? '★' : x.healthy ? '✓' : x.warnings.map((w) => letter[w] ?? '').join('');
}
