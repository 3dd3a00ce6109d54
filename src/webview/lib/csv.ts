/**
 * CSV built by hand (RFC 4180: comma separated, CRLF line ends, fields quoted when they hold a comma,
 * quote or line break). No d3-dsv: it compiles row parsers with `new Function`, which the CSP forbids.
 * Pure module (no DOM), unit-tested.
 */
import type { MetricsRecord } from '../../shared/webviewProtocol';
import { EVAL_SETS } from '../../shared/webviewProtocol';

export type CsvCell = string | number | boolean | null | undefined;

/** One field: numbers at full precision, NaN/±Infinity/null/undefined as empty, text quoted if needed. */
export function csvField(v: CsvCell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  // Spreadsheet formula injection: text starting with = + - @ (or tab/CR) is prefixed with a quote.
  let s = /^[=+\-@\t\r]/.test(v) && !/^-?\d/.test(v) ? `'${v}` : v;
  if (/[",\r\n]/.test(s)) s = `"${s.replace(/"/g, '""')}"`;
  return s;
}

export function toCsv(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<CsvCell>>): string {
  const lines = [header.map(csvField).join(',')];
  for (const r of rows) {
    if (r.length !== header.length) throw new Error(`toCsv: row has ${r.length} fields, header has ${header.length}`);
    lines.push(r.map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

const EVAL_FIELDS = ['loss', 'acc', 'inContextAcc', 'inContextProb', 'prob', 'useContextProb'] as const;

/** Metrics records as a wide table: one row per evaluation, eval sets and heads as columns. */
export function metricsCsv(records: readonly MetricsRecord[], heads = 8): string {
  const sets = [...(EVAL_SETS as readonly string[])];
  for (const r of records) for (const k of Object.keys(r.eval)) if (!sets.includes(k)) sets.push(k);
  const header = [
    'sequences',
    'step',
    'wallTime',
    'trainLoss',
    ...sets.flatMap((s) => EVAL_FIELDS.map((f) => `${s}.${f}`)),
    ...Array.from({ length: heads }, (_, h) => `inductionStrength.L2H${h}`),
    ...Array.from({ length: heads }, (_, h) => `prevTokenScore.L1H${h}`),
  ];
  const rows = records.map((r) => [
    r.sequences,
    r.step,
    r.wallTime,
    r.trainLoss,
    ...sets.flatMap((s) => EVAL_FIELDS.map((f) => r.eval[s]?.[f])),
    ...Array.from({ length: heads }, (_, h) => r.inductionStrength?.[h]),
    ...Array.from({ length: heads }, (_, h) => r.prevTokenScore?.[h]),
  ]);
  return toCsv(header, rows);
}

/** A long table of curves: one row per point. */
export function curvesCsv(
  curves: ReadonlyArray<{ cols: Record<string, CsvCell>; xs: readonly number[]; ys: readonly number[] }>,
  xName = 'sequences',
  yName = 'value',
): string {
  const keys = curves.length ? Object.keys(curves[0].cols) : [];
  const rows: CsvCell[][] = [];
  for (const c of curves) c.xs.forEach((x, i) => rows.push([...keys.map((k) => c.cols[k]), x, c.ys[i]]));
  return toCsv([...keys, xName, yName], rows);
}
