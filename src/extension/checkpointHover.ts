/**
 * The Markdown shown when hovering a checkpoint (runs tree tooltip and the HoverProvider on run files):
 * every head's attention as a readable thumbnail grid (tokens on the axes, the causal future empty,
 * ablated / clamped / replaced heads marked), the clamps active at that checkpoint, the head scores and the
 * eval losses — read from the checkpoint's summary file written at save time. The strongest induction head
 * named is the strongest one that learns freely: a clamped head's score is the clamp's. No vscode import.
 */
import * as fs from 'node:fs';
import type { CheckpointSummary } from '../shared/protocol';
import { headMarks, strongestFreeHead } from '../shared/headMarks';
import { patternGridSvg, svgDataUri, ThemeKind } from './thumbnail';
import { summaryPath } from '../engine/io/runStore';
import { ClampSpec, describeClamp, isActive } from '../engine/clamps/spec';

const LEGEND: Record<string, string> = {
  fsl_train: 'train',
  fsl_val_rl: 'test (relabel)',
  fsl_test_class: 'test (exemplars)',
  fsl_train_valex: 'train (new exemplars)',
};

export function readSummary(checkpointPath: string): CheckpointSummary | null {
  try {
    return JSON.parse(fs.readFileSync(summaryPath(checkpointPath), 'utf8')) as CheckpointSummary;
  } catch {
    return null;
  }
}

export interface HoverOptions {
  /** The run's clamps (run.json config.clamps), to mark heads and list what was active. */
  clamps?: ClampSpec[];
  theme?: ThemeKind;
}

const md = (s: string) => s.replace(/[\\`*_{}[\]<>|]/g, '\\$&');

export function checkpointMarkdown(runName: string, s: CheckpointSummary, o: HoverOptions = {}): string {
  const L = s.patterns.length,
    H = s.patterns[0]?.length ?? 8;
  const clamps = o.clamps ?? [];
  const marks = headMarks(clamps, { sequences: s.sequences, depth: L, numHeads: H });
  const scores = Array.from({ length: L }, (_, l) =>
    l === 0 ? s.prevTokenScore : l === L - 1 ? s.inductionStrength : undefined,
  );
  const scoreNames = Array.from({ length: L }, (_, l) => (l === 0 ? 'PT' : l === L - 1 ? 'IS' : undefined));
  const img = svgDataUri(patternGridSvg(s.patterns, { scores, scoreNames, marks, tokens: s.tokens, theme: o.theme }));
  const lines = [
    `**${md(runName)}** · checkpoint at **${s.sequences.toLocaleString('en-US')}** sequences (step ${s.step.toLocaleString('en-US')})`,
    '',
    `![attention of every head on ${s.tokens.join(' ')}](${img})`,
    '',
    `Attention on \`${s.tokens.join(' ')}\` (rows = query, columns = key; the empty upper triangle is the causal mask). ` +
      'PT: previous-token score (Layer 1, mean A[i, i−1] over label rows); IS: induction strength (Layer 2, A[q, correct label] − A[q, other label]).',
  ];
  const on = clamps.filter((c) => isActive(c, s.sequences)),
    off = clamps.filter((c) => !isActive(c, s.sequences));
  lines.push(
    '',
    on.length
      ? `**Clamps active here:** ${on.map((c) => md(describeClamp(c))).join('; ')}`
      : '**No clamp active here.**',
  );
  if (off.length) lines.push('', `Not active here: ${off.map((c) => md(describeClamp(c))).join('; ')}`);
  if (marks.size) {
    const by = (m: string) => [...marks].filter(([, v]) => v === m).map(([k]) => k);
    const said = (['ablated', 'clamped', 'replaced'] as const)
      .map((m) => (by(m).length ? `${m} ${by(m).join(', ')}` : ''))
      .filter(Boolean);
    lines.push('', `Marked in the grid: ${said.join('; ')}.`);
  }
  lines.push(
    '',
    '| eval set | loss | acc |',
    '|---|---:|---:|',
    ...Object.entries(s.eval).map(([k, v]) => `| ${LEGEND[k] ?? k} | ${v.loss.toFixed(4)} | ${v.acc.toFixed(3)} |`),
  );
  if (s.inductionStrength.length) {
    const best = strongestFreeHead(s.inductionStrength, marks, L);
    const top = s.inductionStrength.reduce((b, v, h) => (v > s.inductionStrength[b] ? h : b), 0);
    const topName = `L${L}H${top}`;
    if (best) lines.push('', `Strongest induction head: **L${L}H${best.head}** (IS ${best.score.toFixed(3)})`);
    else
      lines.push(
        '',
        'No Layer-2 head learns freely here (all ablated, clamped or replaced): no strongest induction head to name.',
      );
    if (marks.get(topName) === 'clamped')
      lines.push('', `${topName} has the highest IS (${s.inductionStrength[top].toFixed(3)}), set by its clamp.`);
  }
  return lines.join('\n');
}
