/**
 * The measures `induction-lab measure` knows (spec §5), their one-line help, and the parsing of `--what`.
 */

export const MEASURE_NAMES = [
  'dense',
  'induction-strength',
  'prev-token-score',
  'ablations',
  'additivity',
  'complementarity',
  'influence-matrix',
  'composition',
  'paths',
  'posthoc',
  'path-patching',
  'learning-time',
] as const;
export type MeasureName = (typeof MEASURE_NAMES)[number];

/** One dense pass plus static and metrics-only measures: seconds on a subsample, ≈ 1 min on 78,400 sequences. */
export const DEFAULT_MEASURES: MeasureName[] = [
  'dense',
  'induction-strength',
  'prev-token-score',
  'composition',
  'learning-time',
];

export const MEASURE_HELP: Record<MeasureName, string> = {
  dense: 'accuracy and loss over the dense training sequences (1 configuration)',
  'induction-strength': 'dense induction strength of each last-layer head (same pass as dense)',
  'prev-token-score': 'dense previous-token score of each first-layer head (same pass as dense)',
  ablations: 'remove-one / keep-one last-layer head ablations (1 + 2H configurations)',
  additivity: 'loss with growing sets of active last-layer heads (≈ 3H configurations)',
  complementarity: 'Tables 2 and 3: single-head complementarity, computed and perfect match (2H configurations)',
  'influence-matrix':
    'PTH → IH influence matrices and Table 1 (H + 4H² + 8 configurations, half two-pass; use --subsample)',
  composition: 'static Q/K/V composition scores, at this checkpoint and at init',
  paths: 'loss without the direct L1 → output path / without L2, across checkpoints (3 per checkpoint)',
  posthoc: 'post-hoc subcircuit progress measures across checkpoints (3 per checkpoint)',
  'path-patching':
    'L1 → L2 edge effects on the logit difference per receiver input Q/K/V, 3 corruptions, exact + attribution',
  'learning-time': 'first eval x with fsl_train loss < 0.4·ln 2 (metrics only)',
};

/** Splits comma lists, checks every name, keeps the order given without repeats. */
export function parseMeasureNames(what?: string[]): MeasureName[] {
  if (!what || what.length === 0) return [...DEFAULT_MEASURES];
  const names = what
    .flatMap((w) => w.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.includes('all')) return [...MEASURE_NAMES];
  const bad = names.filter((n) => !(MEASURE_NAMES as readonly string[]).includes(n));
  if (bad.length) {
    const which = bad.map((b) => `"${b}"`).join(', ');
    const known = `${MEASURE_NAMES.join(', ')}, or all`;
    throw new Error(`unknown measure${bad.length > 1 ? 's' : ''} ${which} (known: ${known})`);
  }
  return [...new Set(names)] as MeasureName[];
}
