/**
 * `induction-lab findings`: which of the paper's findings (spec §7) hold, for each synthetic stand-in and
 * each initialisation seed. Trains the runs the findings need (the sweep: one process per core, finished
 * runs reused — the same run folders as `reproduce`), measures the main run's head ablations, decides each
 * finding per seed by a stated criterion and writes the table (Markdown + JSON). A finding that holds at
 * one seed is an anecdote; the table counts seeds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runSweep, sweepStatus, SweepJob, SweepOptions, SweepResult } from '../train/sweep';
import { RunDir, writeFileAtomic, writeJsonAtomic } from '../io';
import { STAND_INS, StandIn, TUNING_SEEDS } from '../data';
import { learningTime } from '../measures/learningTime';
import type { HeadAblations } from '../measures/ablations';
import type { CliProgress, MetricsRecord } from '../../shared/protocol';
import { Scale, fig5bConditions } from './conditions';
import { DEFAULT_STAND_IN, mainRun, presetJob, runKey } from './reproduce';

const LN2 = Math.log(2);
/** Learning time threshold (spec §5.10). */
const LEARNED = 0.4 * LN2;
/** The ln 2 plateau band: the model picks one of the two in-context labels at chance (spec §7.1). */
const BAND: [number, number] = [0.9 * LN2, 1.2 * LN2];

/** `smoke`: every run of the fast scale cut to a few steps — checks the pipeline in seconds, decides nothing. */
export type FindingsScale = Scale | 'smoke';

// ------------------------------------------------------------------------------------------ the runs

const FIG5B = fig5bConditions().map((c) => `fig5b.${c.name}`);
const fig6 = (row: string, col: string) => `fig6.${row}.${col}`;
const SUB_B = 'perfect_l1_and_copy',
  SUB_C = 'perfect_match';
const NEG_IS = 'appfig15.is_0';

/** One training run a finding reads: 'main' (Fig 3's run, all eight heads) or a figure preset. */
function roleJob(role: string, scale: FindingsScale, seed: number, standIn: StandIn): SweepJob {
  const s: Scale = scale === 'smoke' ? 'fast' : scale;
  const job = role === 'main' ? mainRun(s, seed, standIn) : presetJob(role, s, seed, standIn);
  if (scale !== 'smoke') return job;
  const t = job.config.train;
  Object.assign(t, { sequences: Math.min(t.sequences, 640), evalEvery: 160, checkpointEvery: 0 });
  job.config.data.evalSize = 64;
  return { key: runKey(role, 'smoke', standIn, seed), config: job.config };
}

// ------------------------------------------------------------------------------------------ curves

interface Curve {
  xs: number[];
  loss: number[];
  rows: MetricsRecord[];
}

function curve(rows: MetricsRecord[], set = 'fsl_train'): Curve {
  return { xs: rows.map((r) => r.sequences), loss: rows.map((r) => r.eval[set]?.loss ?? NaN), rows };
}

const lt = (c: Curve) => learningTime(c.xs, c.loss);

/**
 * When the loss first crosses below `threshold`, interpolated in log-loss between the two evaluations that
 * bracket it (the run's end if it never does). Clamped runs of Fig 6 cross within 2–5 evaluations at the fast
 * scale, where the first-evaluation learning time of §5.10 is quantised to 30–50 % of its value.
 */
export function crossing(xs: number[], loss: number[], threshold = LEARNED): number {
  const k = loss.findIndex((l) => l < threshold);
  if (k < 0) return xs[xs.length - 1];
  if (k === 0 || !(loss[k - 1] > 0) || !(loss[k] > 0)) return xs[k];
  const t = (Math.log(loss[k - 1]) - Math.log(threshold)) / (Math.log(loss[k - 1]) - Math.log(loss[k]));
  return xs[k - 1] + t * (xs[k] - xs[k - 1]);
}
const cross = (c: Curve) => crossing(c.xs, c.loss);
const crossText = (c: Curve) => fmtSeq(cross(c), !learned(c));
const learned = (c: Curve) => c.loss.some((l) => l < LEARNED);

/**
 * Time on the ln 2 plateau before the loss first drops below 0.4·ln 2: the summed length of the evaluation
 * intervals that start with the fsl_train loss inside [0.9·ln 2, 1.2·ln 2].
 */
export function plateauTime(xs: number[], loss: number[]): number {
  let t = 0;
  for (let k = 0; k + 1 < xs.length && !(loss[k] < LEARNED); k++)
    if (loss[k] >= BAND[0] && loss[k] <= BAND[1]) t += xs[k + 1] - xs[k];
  return t;
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: number[], b: number[]): number {
  const rank = (v: number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
      for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2 + 1;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a),
    rb = rank(b),
    n = a.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n,
    mb = rb.reduce((s, x) => s + x, 0) / n;
  let num = 0,
    da = 0,
    db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) ** 2;
    db += (rb[i] - mb) ** 2;
  }
  return da && db ? num / Math.sqrt(da * db) : NaN;
}

/** Sequence counts as in the paper's prose: 74000 → "7.4e4"; a censored learning time gets ">". */
export function fmtSeq(x: number, censored = false): string {
  if (!Number.isFinite(x)) return '—';
  const s = x === 0 ? '0' : x.toExponential(1).replace('e+', 'e').replace('.0e', 'e');
  return censored ? `> ${s}` : s;
}
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const ltText = (c: Curve) => fmtSeq(lt(c), !learned(c));

// ------------------------------------------------------------------------------------------ findings

/** What a finding reads for one stand-in and seed. */
export interface SeedRuns {
  standIn: StandIn;
  seed: number;
  curve(role: string, set?: string): Curve | null;
  /** Remove-one / keep-one ablations of the main run's final checkpoint (null if not measured). */
  ablations: HeadAblations | null;
}

export interface Verdict {
  holds: boolean | null;
  text: string;
  numbers: Record<string, number | string | boolean | null>;
}

export interface Finding {
  id: string;
  /** As in the issue / spec §7. */
  title: string;
  paper: string;
  /** How a seed is decided. */
  criterion: string;
  roles: string[];
  ablations?: boolean;
  judge(r: SeedRuns): Verdict;
}

const missing = (what: string): Verdict => ({ holds: null, text: `n/a (${what} missing)`, numbers: {} });

function need(r: SeedRuns, roles: string[]): Record<string, Curve> | string {
  const out: Record<string, Curve> = {};
  for (const role of roles) {
    const c = r.curve(role);
    if (!c || c.xs.length < 2) return role;
    out[role] = c;
  }
  return out;
}

/** Whether b crosses 0.4·ln 2 within 25 % of when a does: "unchanged". */
function same(a: Curve, b: Curve): boolean {
  return Math.abs(cross(b) - cross(a)) <= 0.25 * cross(a);
}

export const FINDINGS: Finding[] = [
  {
    id: 'phase-change',
    title: 'Plateau, then a phase change as induction heads form',
    roles: ['main'],
    paper: 'loss ≈ 0.75 → 0.70 until ≈ 1.7e5, drop 1.8e5 → 3.5e5; IS ≈ 0 on the plateau, rising together ' + '(§7.1)',
    criterion:
      'main run: ≥ 25 % of the time before the learning time (loss < 0.4·ln 2) spent in [0.9, 1.2]·ln 2; ' +
      'learns within the run; max IS < 0.2 halfway through the plateau and ≥ 0.5 at the end',
    judge(r) {
      const c = need(r, ['main']);
      if (typeof c === 'string') return missing(c);
      const m = c.main,
        t = lt(m),
        p = plateauTime(m.xs, m.loss);
      const start = m.xs[m.loss.findIndex((l) => l <= BAND[1])] ?? NaN;
      const mid = m.rows.find((row) => row.sequences >= start + p / 2) ?? m.rows[0];
      const isMid = Math.max(...mid.inductionStrength),
        isEnd = Math.max(...m.rows[m.rows.length - 1].inductionStrength);
      const holds = learned(m) && p >= 0.25 * t && isMid < 0.2 && isEnd >= 0.5;
      return {
        holds,
        text: `plateau ${fmtSeq(p)} of ${ltText(m)}; max IS ${f2(isMid)} → ${f2(isEnd)}`,
        numbers: { plateau: p, learningTime: t, learned: learned(m), maxISMidPlateau: isMid, maxISEnd: isEnd },
      };
    },
  },
  {
    id: 'fig5b-order',
    title: 'Fig 5b ordering of the clamps',
    roles: FIG5B,
    paper:
      'every clamp speeds formation; the PT pattern (1) least; match and layer 1 + copy (one subcircuit ' +
      'left) fastest (§7.4)',
    criterion:
      'learning times: every clamp < None; 1 ≥ each full-subcircuit clamp; ' +
      'max(match, layer 1 + copy) ≤ min(layer 1, copy)',
    judge(r) {
      const c = need(r, FIG5B);
      if (typeof c === 'string') return missing(c);
      const t = (n: string) => lt(c[`fig5b.${n}`]);
      const none = t('noclamp'),
        pt = t('perfect_prev_tok_attn_single'),
        l1 = t('perfect_l1'),
        match = t('perfect_match'),
        copy = t('perfect_copy'),
        l1c = t('perfect_l1_and_copy');
      const clamps = [pt, l1, match, copy, l1c];
      const faster = clamps.every((x) => x < none);
      const ptLeast = [l1, match, copy, l1c].every((x) => pt >= x);
      const oneLeftFastest = Math.max(match, l1c) <= Math.min(l1, copy);
      const txt = (n: string) => ltText(c[`fig5b.${n}`]);
      return {
        holds: faster && ptLeast && oneLeftFastest,
        text:
          `None ${txt('noclamp')}, 1 ${txt('perfect_prev_tok_attn_single')}, layer 1 ${txt('perfect_l1')}, ` +
          `match ${txt('perfect_match')}, copy ${txt('perfect_copy')}, l1+copy ${txt('perfect_l1_and_copy')}` +
          (faster ? '' : ' — not every clamp faster') +
          (ptLeast ? '' : ' — PT pattern not the least') +
          (oneLeftFastest ? '' : ' — one-left runs not fastest'),
        numbers: {
          none,
          pt,
          layer1: l1,
          match,
          copy,
          layer1Copy: l1c,
          everyClampFaster: faster,
          ptLeast,
          oneLeftFastest,
        },
      };
    },
  },
  {
    id: 'no-plateau',
    title: 'Any full subcircuit clamp removes the plateau',
    roles: FIG5B,
    paper: 'layer 1, match, copy, layer 1 + copy: no long ln 2 plateau (§7.4)',
    criterion: "time in [0.9, 1.2]·ln 2 before learning ≤ 25 % of None's, for each of the four",
    judge(r) {
      const c = need(r, FIG5B);
      if (typeof c === 'string') return missing(c);
      const pl = (n: string) => plateauTime(c[`fig5b.${n}`].xs, c[`fig5b.${n}`].loss);
      const none = pl('noclamp');
      const each = ['perfect_l1', 'perfect_match', 'perfect_copy', 'perfect_l1_and_copy'].map(pl);
      if (none === 0) return { holds: null, text: 'n/a (no plateau without clamps)', numbers: { none } };
      return {
        holds: each.every((x) => x <= 0.25 * none),
        text:
          `None ${fmtSeq(none)}; layer 1 ${fmtSeq(each[0])}, match ${fmtSeq(each[1])}, ` +
          `copy ${fmtSeq(each[2])}, l1+copy ${fmtSeq(each[3])}`,
        numbers: { none, layer1: each[0], match: each[1], copy: each[2], layer1Copy: each[3] },
      };
    },
  },
  {
    id: 'redundancy',
    title: 'Removing the strongest IH keeps accuracy ≥ 0.95',
    roles: ['main'],
    ablations: true,
    paper: 'ablating any single Layer-2 head, the strongest (H3, IS 0.845) included, leaves accuracy ≈ 1.0 (§7.2)',
    criterion: 'main run, final checkpoint: dense accuracy with the highest-IS Layer-2 head ablated ≥ 0.95',
    judge(r) {
      const a = r.ablations;
      if (!a) return missing('ablations');
      const k = a.inductionStrength.indexOf(Math.max(...a.inductionStrength));
      const sorted = [...a.inductionStrength].sort((x, y) => y - x);
      const acc = a.removeOne[k].acc;
      return {
        holds: acc >= 0.95,
        text: `${a.heads[k]} (IS ${f2(sorted[0])}; next ${f2(sorted[1])}): ${f3(acc)}`,
        numbers: {
          head: a.heads[k],
          is: sorted[0],
          secondIS: sorted[1],
          removeOneAcc: acc,
          baselineAcc: a.baseline.acc,
          n: a.n,
        },
      };
    },
  },
  {
    id: 'keep-one-monotone',
    title: 'Keep-one accuracy monotone in IS',
    roles: ['main'],
    ablations: true,
    paper:
      'only-one-head accuracy roughly monotone in IS: H3 (0.85) 0.980 … H6 (0.10) 0.292; ' + 'Spearman ρ = 0.95 (§7.2)',
    criterion: 'Spearman ρ(final IS, keep-one accuracy) over the eight Layer-2 heads ≥ 0.8',
    judge(r) {
      const a = r.ablations;
      if (!a) return missing('ablations');
      const rho = spearman(
        a.inductionStrength,
        a.keepOne.map((x) => x.acc),
      );
      const best = a.keepOne.reduce((m, x) => Math.max(m, x.acc), 0);
      return {
        holds: rho >= 0.8,
        text: `ρ ${f2(rho)}; best single head ${f3(best)}`,
        numbers: { rho, bestKeepOne: best },
      };
    },
  },
  {
    id: 'negative-is',
    title: 'Negative-IS clamp fits training pairs but fails held-out pairs',
    roles: [NEG_IS],
    paper: 'L2H3 clamped at IS −1 (all heads active): train fits, "test (relabel)" stays ≈ 1–2 ' + '(§7.5, App Fig 15)',
    criterion: 'appfig15.is_0 (induction:L2H3@0), final: train accuracy ≥ 0.95 and test (relabel) accuracy < 0.9',
    judge(r) {
      const tr = r.curve(NEG_IS),
        va = r.curve(NEG_IS, 'fsl_val_rl');
      if (!tr || !va || !tr.rows.length) return missing(NEG_IS);
      const last = tr.rows[tr.rows.length - 1];
      const trAcc = last.eval.fsl_train.acc,
        vaAcc = last.eval.fsl_val_rl?.acc ?? NaN,
        vaLoss = last.eval.fsl_val_rl?.loss ?? NaN;
      return {
        holds: trAcc >= 0.95 && vaAcc < 0.9,
        text: `train acc ${f3(trAcc)}; relabel acc ${f3(vaAcc)}, loss ${f2(vaLoss)}`,
        numbers: { trainAcc: trAcc, relabelAcc: vaAcc, relabelLoss: vaLoss },
      };
    },
  },
  {
    id: 'labels-slow-c',
    title: 'More labels slow subcircuit C, not B',
    roles: ['classes50', 'labels10', 'labels15'].flatMap((row) => [fig6(row, SUB_C), fig6(row, SUB_B)]),
    paper:
      'C (match clamp) ≈ 0.1 at 5e4 / 1.5e5 / 2.5e5 for 5 / 10 / 15 labels; ' + 'B (layer 1 + copy) identical (§7.6)',
    criterion:
      'sequences to loss < 0.4·ln 2 (interpolated between evaluations) of C: 5 < 10 < 15 labels; ' +
      'of B: 10 and 15 within 25 % of 5',
    judge(r) {
      const rows = ['classes50', 'labels10', 'labels15'];
      const c = need(
        r,
        rows.flatMap((row) => [fig6(row, SUB_C), fig6(row, SUB_B)]),
      );
      if (typeof c === 'string') return missing(c);
      const C = rows.map((row) => c[fig6(row, SUB_C)]),
        B = rows.map((row) => c[fig6(row, SUB_B)]);
      const cSlower = cross(C[0]) < cross(C[1]) && cross(C[1]) < cross(C[2]),
        bSame = same(B[0], B[1]) && same(B[0], B[2]);
      return {
        holds: cSlower && bSame,
        text: `C ${C.map(crossText).join(' / ')}; B ${B.map(crossText).join(' / ')}`,
        numbers: {
          c5: cross(C[0]),
          c10: cross(C[1]),
          c15: cross(C[2]),
          b5: cross(B[0]),
          b10: cross(B[1]),
          b15: cross(B[2]),
        },
      };
    },
  },
  {
    id: 'classes-slow-b',
    title: 'More classes slow subcircuit B, not C',
    roles: ['classes50', 'classes100', 'classes200'].flatMap((row) => [fig6(row, SUB_B), fig6(row, SUB_C)]),
    paper: 'B slightly slower with 100 and 200 classes; C identical (§7.6)',
    criterion:
      'sequences to loss < 0.4·ln 2 (interpolated between evaluations) of B: 50 ≤ 100 ≤ 200 classes ' +
      'and 50 < 200; of C: 100 and 200 within 25 % of 50',
    judge(r) {
      const rows = ['classes50', 'classes100', 'classes200'];
      const c = need(
        r,
        rows.flatMap((row) => [fig6(row, SUB_B), fig6(row, SUB_C)]),
      );
      if (typeof c === 'string') return missing(c);
      const B = rows.map((row) => c[fig6(row, SUB_B)]),
        C = rows.map((row) => c[fig6(row, SUB_C)]);
      const bSlower = cross(B[0]) <= cross(B[1]) && cross(B[1]) <= cross(B[2]) && cross(B[0]) < cross(B[2]),
        cSame = same(C[0], C[1]) && same(C[0], C[2]);
      return {
        holds: bSlower && cSame,
        text: `B ${B.map(crossText).join(' / ')}; C ${C.map(crossText).join(' / ')}`,
        numbers: {
          b50: cross(B[0]),
          b100: cross(B[1]),
          b200: cross(B[2]),
          c50: cross(C[0]),
          c100: cross(C[1]),
          c200: cross(C[2]),
        },
      };
    },
  },
  {
    id: 'unseen-classes',
    title: 'Unseen classes generalise',
    roles: ['main'],
    paper: '"test (exemplars)" (100 unseen classes) follows train during the drop and ends ≈ 0.12 (§7.1)',
    criterion: 'main run: final test (exemplars) loss < 0.5·ln 2 (0.35)',
    judge(r) {
      const t = r.curve('main', 'fsl_test_class');
      if (!t || !t.xs.length) return missing('main');
      const last = t.loss[t.loss.length - 1],
        acc = t.rows[t.rows.length - 1].eval.fsl_test_class?.acc ?? NaN;
      return { holds: last < 0.5 * LN2, text: `loss ${f2(last)}, acc ${f3(acc)}`, numbers: { loss: last, acc } };
    },
  },
  {
    id: 'single-ih-forms',
    title: 'The single-IH control forms an induction head',
    roles: ['fig5b.noclamp'],
    paper: 'the single-IH models of §4–5 learn through L2H3 as an induction head (H3 alone: accuracy 0.98, §7.2)',
    criterion: "fig5b None run (only L2H3 active): learns within the run and L2H3's final IS ≥ 0.5",
    judge(r) {
      const c = r.curve('fig5b.noclamp');
      if (!c || !c.rows.length) return missing('fig5b.noclamp');
      const is = c.rows[c.rows.length - 1].inductionStrength[3];
      return {
        holds: learned(c) && is >= 0.5,
        text: `learns ${ltText(c)}, L2H3 IS ${f2(is)}`,
        numbers: { learningTime: lt(c), learned: learned(c), is },
      };
    },
  },
  {
    id: 'labels-delay',
    title: 'More labels delay the phase change of normal training',
    roles: ['classes50', 'labels10', 'labels15'].map((row) => fig6(row, 'noclamp')),
    paper: 'drop ≈ 2.5e5 / 8e5 / 1.2–1.4e6 for 5 / 10 / 15 labels (§7.6)',
    criterion:
      'Fig 6 normal training: learning time with 10 and with 15 labels ≥ 1.5 × that with 5 ' +
      '(a run that never learns counts at its end)',
    judge(r) {
      const rows = ['classes50', 'labels10', 'labels15'];
      const c = need(
        r,
        rows.map((row) => fig6(row, 'noclamp')),
      );
      if (typeof c === 'string') return missing(c);
      const n = rows.map((row) => c[fig6(row, 'noclamp')]),
        t = n.map(lt);
      return {
        holds: t[1] >= 1.5 * t[0] && t[2] >= 1.5 * t[0],
        text: `${n.map(ltText).join(' / ')} (×${f2(t[1] / t[0])}, ×${f2(t[2] / t[0])})`,
        numbers: { l5: t[0], l10: t[1], l15: t[2] },
      };
    },
  },
  {
    id: 'classes-delay',
    title: 'More classes delay normal training (modestly)',
    roles: ['classes50', 'classes100', 'classes200'].map((row) => fig6(row, 'noclamp')),
    paper: 'drop ≈ 2.5e5 with 50 classes vs ≈ 3.5–4e5 with 100 and 200 (§7.6)',
    criterion: 'Fig 6 normal training: learning time with 100 and with 200 classes > that with 50',
    judge(r) {
      const rows = ['classes50', 'classes100', 'classes200'];
      const c = need(
        r,
        rows.map((row) => fig6(row, 'noclamp')),
      );
      if (typeof c === 'string') return missing(c);
      const n = rows.map((row) => c[fig6(row, 'noclamp')]),
        t = n.map(lt);
      return {
        holds: t[1] > t[0] && t[2] > t[0],
        text: `${n.map(ltText).join(' / ')}`,
        numbers: { c50: t[0], c100: t[1], c200: t[2] },
      };
    },
  },
];

// ------------------------------------------------------------------------------------------ the command

export interface FindingsOptions extends Omit<SweepOptions, 'root'> {
  scale: FindingsScale;
  seeds: number[];
  standIns: StandIn[];
  /** Finding ids (default: all); only the runs they need are trained. */
  only?: string[];
  runsRoot: string;
  /**
   * false: train nothing, decide from the finished runs on disk; a finding whose runs are missing is n/a
   * (e.g. to write the table as it stands when the compute budget ends).
   */
  train?: boolean;
  /** Dense sequences for the head ablations (default 2,000; 200 at the smoke scale). */
  subsample?: number;
  log?: (line: string) => void;
  progress?: (p: CliProgress) => void;
}

export interface FindingsTable {
  scale: FindingsScale;
  seeds: number[];
  standIns: StandIn[];
  subsample: number;
  findings: Array<
    Omit<Finding, 'judge' | 'roles'> & {
      perStandIn: Record<string, { holds: number; decided: number; seeds: Record<number, Verdict> }>;
    }
  >;
  runs: Array<{ key: string; runDir: string; status: string; reused: boolean }>;
}

export function selectFindings(only?: string[]): Finding[] {
  if (!only?.length) return FINDINGS;
  const bad = only.filter((id) => !FINDINGS.some((f) => f.id === id));
  if (bad.length)
    throw new Error(
      `unknown finding${bad.length > 1 ? 's' : ''} ${bad.map((b) => `"${b}"`).join(', ')} ` +
        `(known: ${FINDINGS.map((f) => f.id).join(', ')})`,
    );
  return FINDINGS.filter((f) => only.includes(f.id));
}

/** Every run the chosen findings need, per stand-in and seed. */
export function findingsJobs(
  findings: Finding[],
  scale: FindingsScale,
  seeds: number[],
  standIns: StandIn[],
): Array<SweepJob & { role: string; seed: number; standIn: StandIn }> {
  const roles = [...new Set(findings.flatMap((f) => f.roles))];
  return standIns.flatMap((standIn) =>
    seeds.flatMap((seed) => roles.map((role) => ({ ...roleJob(role, scale, seed, standIn), role, seed, standIn }))),
  );
}

function readMetrics(dir: string): MetricsRecord[] {
  try {
    return RunDir.open(dir).readMetrics<MetricsRecord>();
  } catch {
    return [];
  }
}

export async function computeFindings(o: FindingsOptions): Promise<FindingsTable> {
  const findings = selectFindings(o.only);
  const log = o.log ?? (() => {});
  if (!o.seeds.length) throw new Error('findings needs at least one seed');
  const jobs = findingsJobs(findings, o.scale, o.seeds, o.standIns);
  log(
    `findings: ${jobs.length} run(s) at the ${o.scale} scale (${o.standIns.join(', ')}; ` +
      `seeds ${o.seeds.join(', ')}) → ${o.runsRoot}`,
  );
  let runs: SweepResult[];
  if (o.train === false) {
    const status = sweepStatus(jobs, o.runsRoot);
    runs = status.results;
    if (status.missing.length) {
      log(
        `findings: ${status.missing.length} run(s) not finished, their findings are n/a (without --no-train they are ` +
          `trained): ${status.missing.map((m) => `${m.key} (${m.why})`).join(', ')}`,
      );
    }
  } else {
    let done = 0;
    const tick = () =>
      o.progress?.({ type: 'progress', task: 'findings: training', done, total: jobs.length, unit: 'runs' });
    tick();
    runs = await runSweep(jobs, {
      ...o,
      root: o.runsRoot,
      onMessage: (job, m) => {
        o.onMessage?.(job, m);
        if (m.type === 'finished') {
          done++;
          tick();
        }
      },
    });
    const failed = runs.filter((r) => r.status !== 'completed');
    if (failed.length) {
      log(
        `findings: ${failed.length} run(s) did not complete (${failed.map((f) => f.key).join(', ')}); their findings ` +
          'are n/a — run the same command again to resume',
      );
    }
  }
  const dirOf = new Map(runs.filter((r) => r.status === 'completed').map((r) => [r.key, r.runDir]));

  const subsample = o.subsample ?? (o.scale === 'smoke' ? 200 : 2000);
  const wantAblations = findings.some((f) => f.ablations);
  const table: FindingsTable = {
    scale: o.scale,
    seeds: o.seeds,
    standIns: o.standIns,
    subsample,
    findings: findings.map(({ judge: _j, roles: _r, ...f }) => ({ ...f, perStandIn: {} })),
    runs: runs.map((r) => ({ key: r.key, runDir: r.runDir, status: r.status, reused: r.reused })),
  };
  const total = o.standIns.length * o.seeds.length;
  let measured = 0;
  for (const standIn of o.standIns) {
    for (const seed of o.seeds) {
      const dir = (role: string) =>
        dirOf.get(jobs.find((j) => j.role === role && j.seed === seed && j.standIn === standIn)?.key ?? '');
      const cache = new Map<string, MetricsRecord[]>();
      let ablations: HeadAblations | null = null;
      const mainDir = dir('main');
      if (wantAblations && mainDir) {
        const { measureCommand } = await import('../measures/command');
        const r = (await measureCommand({ runDir: mainDir, what: ['ablations'], subsample }, () => {})) as {
          results: { ablations: HeadAblations };
        };
        ablations = r.results.ablations;
      }
      o.progress?.({ type: 'progress', task: 'findings: measures', done: ++measured, total, unit: 'seeds' });
      const seedRuns: SeedRuns = {
        standIn,
        seed,
        ablations,
        curve(role, set) {
          const d = dir(role);
          if (!d) return null;
          if (!cache.has(d)) cache.set(d, readMetrics(d));
          return curve(cache.get(d)!, set);
        },
      };
      findings.forEach((f, i) => {
        const v = f.judge(seedRuns);
        const cell = (table.findings[i].perStandIn[standIn] ??= { holds: 0, decided: 0, seeds: {} });
        cell.seeds[seed] = v;
        if (v.holds !== null) {
          cell.decided++;
          if (v.holds) cell.holds++;
        }
      });
    }
  }
  return table;
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|');

/** "4 / 5", with the held-out seeds' share when the stand-in was tuned on some of them: "4 / 5 (held out 2 / 3)". */
function countCell(t: FindingsTable, f: FindingsTable['findings'][number], s: StandIn): string {
  const c = f.perStandIn[s];
  if (!c) return '—';
  const na = t.seeds.length - c.decided;
  let text = `${c.holds} / ${c.decided}${na ? ` (${na} n/a)` : ''}`;
  const held = t.seeds.filter((x) => !TUNING_SEEDS[s].includes(x));
  if (held.length < t.seeds.length) {
    const v = held.map((x) => c.seeds[x]?.holds).filter((h) => h !== null && h !== undefined);
    text += ` (held out ${v.filter(Boolean).length} / ${v.length})`;
  }
  return text;
}

const chosenOn = (s: StandIn) => (TUNING_SEEDS[s].length ? `chosen on seeds ${TUNING_SEEDS[s].join(', ')}` : 'none');

/** The table as Markdown: a summary (seeds holding per stand-in), then every seed's numbers. */
export function findingsMarkdown(t: FindingsTable): string {
  const o: string[] = [];
  const scaleText =
    t.scale === 'smoke' ? 'smoke scale (a pipeline check: nothing is decided at this size)' : `${t.scale} scale`;
  o.push(
    `Seeds ${t.seeds.join(', ')} at the ${scaleText}; head ablations on ${t.subsample.toLocaleString('en-US')} ` +
      'dense sequences. Each cell counts the seeds at which the finding holds, by the criterion in the last column; ' +
      '"held out" counts only the seeds not trained while the stand-in\'s constants were chosen ' +
      `(${t.standIns.map((s) => `${s}: ${chosenOn(s)}`).join('; ')}). ` +
      `Regenerate with \`induction-lab findings --scale ${t.scale} --seeds ${t.seeds.join(',')}\`.`,
    '',
  );
  const name = (s: StandIn) => `${s}${s === DEFAULT_STAND_IN ? ' (default)' : ''}`;
  o.push(`| finding (spec §7) | paper | ${t.standIns.map(name).join(' | ')} | criterion |`);
  o.push(`|---|---|${t.standIns.map(() => '---:').join('|')}|---|`);
  for (const f of t.findings) {
    o.push(
      `| ${mdCell(f.title)} | ${mdCell(f.paper)} | ${t.standIns.map((s) => countCell(t, f, s)).join(' | ')} | ` +
        `${mdCell(f.criterion)} |`,
    );
  }
  for (const s of t.standIns) {
    const head = (x: number) => `seed ${x}${TUNING_SEEDS[s].includes(x) ? ' (chosen on)' : ''}`;
    o.push('', `**${name(s)}**, per seed (✓ holds, ✗ does not):`, '');
    o.push(`| finding | ${t.seeds.map(head).join(' | ')} |`, `|---|${t.seeds.map(() => '---').join('|')}|`);
    for (const f of t.findings) {
      o.push(
        `| ${mdCell(f.title)} | ${t.seeds
          .map((x) => {
            const v = f.perStandIn[s]?.seeds[x];
            return v ? `${v.holds === null ? '–' : v.holds ? '✓' : '✗'} ${mdCell(v.text)}` : '—';
          })
          .join(' | ')} |`,
      );
    }
  }
  return o.join('\n') + '\n';
}

/** The markers of a document's generated section for one scale (a document may hold one per scale). */
export function docMarkers(scale: FindingsScale): [string, string] {
  return [
    `<!-- findings:${scale}:begin (generated by \`induction-lab findings --scale ${scale} --doc\`; ` +
      'edits inside are overwritten) -->',
    `<!-- findings:${scale}:end -->`,
  ];
}

/** Replaces the generated section of a Markdown file for the table's scale with the table. */
export function updateDoc(file: string, scale: FindingsScale, markdown: string): void {
  const [begin, end] = docMarkers(scale);
  const text = fs.readFileSync(file, 'utf8');
  const a = text.indexOf(begin),
    b = text.indexOf(end);
  if (a < 0 || b < a)
    throw new Error(`${file} has no findings section for the ${scale} scale (a line "${begin}" … "${end}")`);
  writeFileAtomic(file, text.slice(0, a + begin.length) + '\n' + markdown + text.slice(b));
}

/** Writes findings.md and findings.json into `out`. */
export function writeFindings(t: FindingsTable, out: string): string[] {
  fs.mkdirSync(out, { recursive: true });
  const files = [path.join(out, 'findings.md'), path.join(out, 'findings.json')];
  writeFileAtomic(files[0], findingsMarkdown(t));
  writeJsonAtomic(files[1], t);
  return files;
}

export function parseStandIns(text: string | undefined): StandIn[] {
  if (!text) return [...STAND_INS];
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(STAND_INS as readonly string[]).includes(n));
  if (bad.length || !names.length)
    throw new Error(`--stand-ins takes a comma list of ${STAND_INS.join(', ')}, got "${text}"`);
  return [...new Set(names)] as StandIn[];
}

export interface FindingsCommandArgs extends FindingsOptions {
  /** Folder for findings.md / findings.json. */
  out: string;
  /** A Markdown file whose generated findings section is replaced (e.g. docs/reproduction.md). */
  doc?: string;
}

/** The CLI command: compute, write, print the Markdown on stdout. */
export async function findingsCommand(a: FindingsCommandArgs, print: (text: string) => void): Promise<FindingsTable> {
  const t = await computeFindings(a);
  const md = findingsMarkdown(t);
  const files = writeFindings(t, a.out);
  if (a.doc) {
    updateDoc(a.doc, a.scale, md);
    files.push(a.doc);
  }
  print(md + `\nwrote ${files.join(', ')}\n`);
  return t;
}
