/**
 * The metrics of a run as one wide table for spreadsheets and data frames: one row per evaluation, the
 * columns of export/columns.ts (sequences, step, wall_time, train/loss, …). CSV is RFC 4180 with a header
 * row; a missing or non-finite value is an empty cell.
 */
import { writeFileAtomic } from '../io';
import { metricTable } from './columns';
import type { RunSnapshot } from './snapshot';

function cell(v: number): string {
  return Number.isFinite(v) ? String(v) : '';
}

function quote(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function metricsCsv(s: RunSnapshot): { text: string; rows: number; columns: number } {
  const { columns, rows } = metricTable(s.records, s.config.model.depth, s.config.train.lr);
  const text = [columns.map(quote).join(','), ...rows.map((r) => r.map(cell).join(','))].join('\r\n') + '\r\n';
  return { text, rows: rows.length, columns: columns.length };
}

export function writeMetricsCsv(s: RunSnapshot, out: string): { rows: number; columns: number } {
  const { text, rows, columns } = metricsCsv(s);
  writeFileAtomic(out, text);
  return { rows, columns };
}
