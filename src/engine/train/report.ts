/**
 * The end-of-run summary: a Markdown report (report.md) with the key numbers and an SVG of the loss
 * curves (loss.svg) next to it, written atomically; the CLI prints the same Markdown.
 */
import * as path from 'node:path';
import { RunDir, writeFileAtomic } from '../io';
import type { MetricsRecord } from '../../shared/protocol';
import { describeClamp } from '../clamps/spec';
import type { RunJson } from './trainer';
import { escapeXml } from '../io/svgParts';

const LN2 = Math.log(2);

/** First eval x at which fsl_train loss is below 0.4·ln 2 (the paper's "learning time", spec §5.10). */
export function learningTime(rows: MetricsRecord[]): number | null {
  const r = rows.find((m) => m.eval.fsl_train && m.eval.fsl_train.loss < 0.4 * LN2);
  return r ? r.sequences : null;
}

/** Last eval x at which fsl_train loss is still above 0.9·ln 2: the end of the plateau, if there was one. */
export function plateauEnd(rows: MetricsRecord[]): number | null {
  const t = learningTime(rows);
  const before = rows.filter(
    (m) => (t === null || m.sequences < t) && m.eval.fsl_train && m.eval.fsl_train.loss > 0.9 * LN2,
  );
  return before.length ? before[before.length - 1].sequences : null;
}

const COLORS: Record<string, string> = {
  fsl_train: '#1b9e77',
  fsl_val_rl: '#d95f02',
  fsl_test_class: '#7570b3',
  fsl_train_valex: '#e7298a',
};
const LEGEND: Record<string, string> = {
  fsl_train: 'train',
  fsl_val_rl: 'test (relabel)',
  fsl_test_class: 'test (exemplars)',
  fsl_train_valex: 'train (new exemplars)',
};

export function lossSvg(rows: MetricsRecord[], title: string): string {
  const W = 640,
    H = 360,
    m = { l: 50, r: 160, t: 30, b: 40 };
  const xMax = Math.max(1, ...rows.map((r) => r.sequences));
  const yMax = Math.max(2.2, ...rows.flatMap((r) => Object.values(r.eval).map((e) => Math.min(e.loss, 4))));
  const X = (x: number) => m.l + (x / xMax) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - (Math.min(y, yMax) / yMax) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(
    `<rect width="${W}" height="${H}" fill="white"/><text x="${m.l}" y="18" font-size="13">${escapeXml(title)}</text>`,
  );
  parts.push(
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const x = (xMax * i) / 4,
      y = (yMax * i) / 4;
    parts.push(`<text x="${X(x)}" y="${H - m.b + 14}" text-anchor="middle">${fmtSeq(x)}</text>`);
    parts.push(`<text x="${m.l - 6}" y="${Y(y) + 4}" text-anchor="end">${y.toFixed(1)}</text>`);
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle"># sequences seen</text>`);
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y(LN2)}" y2="${Y(LN2)}" stroke="#888" stroke-dasharray="4 3"/>`);
  const names = Object.keys(rows[0]?.eval ?? {});
  names.forEach((n, i) => {
    const pts = rows
      .filter((r) => r.eval[n])
      .map((r) => `${X(r.sequences).toFixed(1)},${Y(r.eval[n].loss).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${COLORS[n] ?? '#000'}" stroke-width="1.6" points="${pts}"/>`);
    parts.push(
      `<line x1="${W - m.r + 10}" x2="${W - m.r + 30}" y1="${m.t + 10 + i * 16}" y2="${m.t + 10 + i * 16}" stroke="${COLORS[n] ?? '#000'}" stroke-width="2"/><text x="${W - m.r + 35}" y="${m.t + 14 + i * 16}">${LEGEND[n] ?? n}</text>`,
    );
  });
  parts.push(
    `<line x1="${W - m.r + 10}" x2="${W - m.r + 30}" y1="${m.t + 10 + names.length * 16}" y2="${m.t + 10 + names.length * 16}" stroke="#888" stroke-dasharray="4 3"/><text x="${W - m.r + 35}" y="${m.t + 14 + names.length * 16}">ln 2 (random context label)</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

export function fmtSeq(x: number): string {
  return x >= 1e6 ? `${+(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${+(x / 1e3).toFixed(1)}k` : `${Math.round(x)}`;
}

/** Writes report.md and loss.svg into the run folder and returns the Markdown. */
export function summarizeRun(runDir: RunDir): string {
  const run = runDir.readRunJson<RunJson>();
  const rows = runDir.readMetrics<MetricsRecord>();
  const last = rows[rows.length - 1];
  const lines: string[] = [];
  lines.push(`# Run ${run.id}`, '');
  lines.push(
    `- preset: ${run.preset ?? '(custom)'} · status: **${run.status}** · engine: ${run.engineDetail ? `${run.engine} (${run.engineDetail})` : (run.engine ?? run.backend ?? '?')} · ${run.parameters} parameters`,
  );
  lines.push(
    `- lr ${run.config.train.lr}, batch ${run.config.train.batchSize}, ${run.sequences} of ${run.config.train.sequences} sequences, seeds init ${run.config.train.initSeed} / train ${run.config.train.trainSeed} / eval ${run.config.train.evalSeed}`,
  );
  lines.push(
    `- clamps: ${run.config.clamps.length ? run.config.clamps.map((c) => `${describeClamp(c)}`).join('; ') : 'none'}`,
  );
  lines.push(`- features: ${run.features ?? run.config.data.features}`, '');
  if (last) {
    const lt = learningTime(rows),
      pe = plateauEnd(rows);
    lines.push(
      `Plateau (train loss > 0.9·ln 2) last seen at ${pe === null ? '—' : fmtSeq(pe)} sequences; train loss below 0.4·ln 2 (learning time, §5.10) at ${lt === null ? 'not reached' : fmtSeq(lt) + ' sequences'}.`,
      '',
    );
    lines.push('| eval set | loss | acc | in-context acc |', '|---|---:|---:|---:|');
    for (const [n, e] of Object.entries(last.eval))
      lines.push(
        `| ${LEGEND[n] ?? n} (\`${n}\`) | ${e.loss.toFixed(4)} | ${e.acc.toFixed(4)} | ${e.inContextAcc.toFixed(4)} |`,
      );
    if (last.inductionStrength.length) {
      lines.push(
        '',
        `Induction strength of Layer-2 heads at ${fmtSeq(last.sequences)} (spec §5.3, on fsl_train): ` +
          last.inductionStrength.map((v, h) => `H${h} ${v.toFixed(3)}`).join(', '),
      );
    }
    if (last.prevTokenScore.length)
      lines.push(
        '',
        'Previous-token score of Layer-1 heads (§5.4): ' +
          last.prevTokenScore.map((v, h) => `H${h} ${v.toFixed(3)}`).join(', '),
      );
    writeFileAtomic(path.join(runDir.path, 'loss.svg'), lossSvg(rows, `${run.name}: loss by eval set`));
    lines.push('', '![loss curves](loss.svg)');
  } else lines.push('No evaluation was logged.');
  const md = lines.join('\n') + '\n';
  writeFileAtomic(path.join(runDir.path, 'report.md'), md);
  return md;
}
