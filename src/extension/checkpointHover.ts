/**
 * The Markdown shown when hovering a checkpoint (runs tree tooltip and the HoverProvider on run files):
 * a thumbnail of every head's attention, the head scores and the eval losses — all read from the
 * checkpoint's summary file written at save time. No vscode import: unit-testable.
 */
import * as fs from 'node:fs';
import type { CheckpointSummary } from '../shared/protocol';
import { patternGridSvg, svgDataUri } from './thumbnail';
import { summaryPath } from '../engine/io/runStore';

const LEGEND: Record<string, string> = { fsl_train: 'train', fsl_val_rl: 'test (relabel)', fsl_test_class: 'test (exemplars)', fsl_train_valex: 'train (new exemplars)' };

export function readSummary(checkpointPath: string): CheckpointSummary | null {
  try { return JSON.parse(fs.readFileSync(summaryPath(checkpointPath), 'utf8')) as CheckpointSummary; } catch { return null; }
}

export function checkpointMarkdown(runName: string, s: CheckpointSummary): string {
  const L = s.patterns.length;
  const scores = Array.from({ length: L }, (_, l) => (l === 0 ? s.prevTokenScore : l === L - 1 ? s.inductionStrength : undefined));
  const img = svgDataUri(patternGridSvg(s.patterns, { cell: 6, scores }));
  const lines = [
    `**${runName}** · checkpoint at **${s.sequences.toLocaleString('en-US')}** sequences (step ${s.step})`,
    '',
    `![attention of every head on ${s.tokens.join(' ')}](${img})`,
    '',
    `Attention (query row × key column) on \`${s.tokens.join(' ')}\`; numbers: previous-token score (Layer 1, mean A[i, i−1] over label rows) and induction strength (Layer 2, A[q, correct label] − A[q, other label]).`,
    '',
    '| eval set | loss | acc |', '|---|---:|---:|',
    ...Object.entries(s.eval).map(([k, v]) => `| ${LEGEND[k] ?? k} | ${v.loss.toFixed(4)} | ${v.acc.toFixed(3)} |`),
  ];
  if (s.inductionStrength.length) {
    const best = s.inductionStrength.reduce((b, v, h) => (v > s.inductionStrength[b] ? h : b), 0);
    lines.push('', `Strongest induction head: **L2H${best}** (IS ${s.inductionStrength[best].toFixed(3)})`);
  }
  return lines.join('\n');
}
