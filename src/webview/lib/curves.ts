/** Grouping of subcircuit curves into a small-multiples grid. Pure module, unit-tested. */
import type { SubcircuitPlotCurve } from '../../shared/webviewProtocol';

export interface CurveGrid {
  /** Row keys in first-seen order ('' when curves have no `row`). */
  rows: string[];
  /** Column (panel) titles in first-seen order: `panel`, else `stepsLearned`. */
  panels: string[];
  cell(row: string, panel: string): SubcircuitPlotCurve[];
  /** Series labels of a row, first-seen order (colour index = position). */
  labels(row: string): string[];
}

const uniq = (xs: string[]): string[] => [...new Set(xs)];
export const panelOf = (c: SubcircuitPlotCurve): string => c.panel ?? c.stepsLearned;

export function groupCurves(curves: readonly SubcircuitPlotCurve[]): CurveGrid {
  const rowOf = (c: SubcircuitPlotCurve) => c.row ?? '';
  return {
    rows: uniq(curves.map(rowOf)),
    panels: uniq(curves.map(panelOf)),
    cell: (row, panel) => curves.filter((c) => rowOf(c) === row && panelOf(c) === panel),
    labels: (row) => uniq(curves.filter((c) => rowOf(c) === row).map((c) => c.label)),
  };
}
