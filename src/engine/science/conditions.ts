/**
 * The paper's experimental conditions as data (spec §4, §5.8–5.9, §7, §8): which clamps each figure's
 * runs train with, at two scales. `paper` = the paper's settings (lr 1e-5 and its sequence counts);
 * `fast` = lr 1e-4 (spec §9.4: the phase change after ≈ 1–4k steps) with sequence counts cut to cover
 * the fast-scale phase change, evaluation every 2,000 sequences on 500-sequence eval sets.
 */
import type { ClampSpec } from '../clamps/spec';
import type { DeepPartial, RunConfig } from '../train/runConfig';

export type Scale = 'fast' | 'paper';

export interface Condition {
  /** Run name (file-safe). */
  name: string;
  /** Figure legend, e.g. "1, 2 (layer 1)". */
  label: string;
  /** Circuit steps supplied by the clamp (spec §5.8). */
  stepsClamped: string;
  /** Steps the run still has to learn. */
  stepsLearned: string;
  config: DeepPartial<RunConfig>;
}

/** Every Layer-2 head except H3 (the reference's REST_HEADS): the single-induction-head models of §4–5. */
export const REST_HEADS = ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'];
const ablateRest: ClampSpec = { kind: 'ablate', heads: REST_HEADS };

/** Training settings of a run family at a scale: [sequences, evalEvery] at the paper's scale, scaled for fast. */
export function scaleSettings(
  scale: Scale,
  paperSequences: number,
  paperEvalEvery: number,
  fastSequences: number,
): DeepPartial<RunConfig> {
  return scale === 'paper'
    ? { train: { lr: 1e-5, sequences: paperSequences, evalEvery: paperEvalEvery, checkpointEvery: 0 } }
    : { train: { lr: 1e-4, sequences: fastSequences, evalEvery: 2000, checkpointEvery: 0 }, data: { evalSize: 500 } };
}

/** Fig 5b: the six clamp conditions of the single-IH model (L2H3; REST_HEADS ablated except for copy runs). */
export function fig5bConditions(ih = 'L2H3', pth = 'L1H2'): Condition[] {
  const rest: ClampSpec = {
    kind: 'ablate',
    heads: ['L2H0', 'L2H1', 'L2H2', 'L2H3', 'L2H4', 'L2H5', 'L2H6', 'L2H7'].filter((h) => h !== ih),
  };
  return [
    { name: 'noclamp', label: 'None', stepsClamped: '—', stepsLearned: '1, 2, 3, 4, 5', config: { clamps: [rest] } },
    {
      name: 'perfect_prev_tok_attn_single',
      label: '1',
      stepsClamped: '1',
      stepsLearned: '2, 3, 4, 5',
      config: { clamps: [rest, { kind: 'prev-token', heads: [pth], strength: 1, labelRowsOnly: false }] },
    },
    {
      name: 'perfect_l1',
      label: '1, 2 (layer 1)',
      stepsClamped: '1, 2 (A)',
      stepsLearned: '3qk, 4, 3v, 5 (B, C)',
      config: { clamps: [rest, { kind: 'layer1' }] },
    },
    {
      name: 'perfect_match',
      label: '1, 2, 3qk, 4 (match)',
      stepsClamped: '1, 2, 3qk, 4 (A, B)',
      stepsLearned: '3v, 5 (C)',
      config: { clamps: [rest, { kind: 'induction', heads: [ih], strength: 1 }] },
    },
    {
      name: 'perfect_copy',
      label: '3v, 5 (copy)',
      stepsClamped: '3v, 5 (C)',
      stepsLearned: '1, 2, 3qk, 4 (A, B)',
      config: { clamps: [{ kind: 'copy', head: ih }] },
    },
    {
      name: 'perfect_l1_and_copy',
      label: '1, 2, 3v, 5 (layer 1 + copy)',
      stepsClamped: '1, 2, 3v, 5 (A, C)',
      stepsLearned: '3qk, 4 (B)',
      config: { clamps: [{ kind: 'layer1' }, { kind: 'copy', head: ih }] },
    },
  ];
}

/** Fig 6 columns: normal training and the subcircuit B, C and B+C evolutions. */
export function fig6Columns(): Condition[] {
  const all = fig5bConditions();
  const pick = (n: string, label: string) => ({ ...all.find((c) => c.name === n)!, label });
  return [
    { ...all[0], label: 'Normal training' },
    pick('perfect_l1_and_copy', 'Subcircuit B'),
    pick('perfect_match', 'Subcircuit C'),
    pick('perfect_l1', 'Subcircuits B, C'),
  ];
}

/** Fig 6 rows: number of training classes and of labels. */
export const FIG6_ROWS: Array<{ name: string; label: string; data: Record<string, unknown> }> = [
  { name: 'classes50', label: '50 classes', data: { classSplit: [50, 1473, 100] } },
  { name: 'classes100', label: '100 classes', data: { classSplit: [100, 1423, 100] } },
  { name: 'classes200', label: '200 classes', data: { classSplit: [200, 1323, 100] } },
  { name: 'labels10', label: '10 labels', data: { numLabels: 10, labelSplit: [36, 9, 0] } },
  { name: 'labels15', label: '15 labels', data: { numLabels: 15, labelSplit: [84, 21, 0] } },
];

/** Fig 4b: one run per Layer-2 head with the other seven ablated. */
export function singleHeadConditions(): Condition[] {
  return Array.from({ length: 8 }, (_, h) => ({
    name: `only_l2h${h}`,
    label: `Layer 2 head ${h}`,
    stepsClamped: '—',
    stepsLearned: 'all (one IH)',
    config: {
      clamps: [
        { kind: 'ablate', heads: Array.from({ length: 8 }, (_, k) => `L2H${k}`).filter((x) => x !== `L2H${h}`) },
      ],
    },
  }));
}

/** App Fig 8: previous-token pattern clamps on different Layer-1 head sets (single-IH models). */
export function prevTokenVariants(): Condition[] {
  const sets: Array<[string, string[]]> = [
    ['l1h2', ['L1H2']],
    ['l1h6', ['L1H6']],
    ['l1h125', ['L1H1', 'L1H2', 'L1H5']],
    ['l1all', Array.from({ length: 8 }, (_, h) => `L1H${h}`)],
  ];
  return [
    fig5bConditions()[0],
    ...sets.map(([n, heads]) => ({
      name: `pt_${n}`,
      label: `PT clamp ${heads.length === 8 ? 'all Layer 1 heads' : heads.join(', ')}`,
      stepsClamped: '1',
      stepsLearned: '2, 3, 4, 5',
      config: { clamps: [ablateRest, { kind: 'prev-token', heads, strength: 1, labelRowsOnly: false } as ClampSpec] },
    })),
  ];
}

/** App Fig 15: induction-strength sweep on L2H3 (all heads active); plotted IS = 2s − 1. */
export const IS_SWEEP = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1, 0];
export function strengthSweep(): Condition[] {
  return IS_SWEEP.map((s) => ({
    name: `is_${String(s).replace('.', 'p')}`,
    label: `IS ${(2 * s - 1).toFixed(1)}`,
    stepsClamped: 'L2H3 pattern',
    stepsLearned: 'the rest',
    config: { clamps: [{ kind: 'induction', heads: ['L2H3'], strength: s }] },
  }));
}
