/**
 * One figure from several seeds: each line panel's series become the mean over seeds with a shaded band
 * (the range, min to max) and keep every seed's values; scatter panels pool the seeds' points (as App
 * Fig 18 pools seeds 5–9); heatmaps, whose rows and columns are heads whose roles differ by seed, show the
 * first seed. The per-seed numbers are summarised as mean / min / max.
 */
import type { FigureData, LinePanel, LineSeries, Panel } from './figureSvg';

/** Series of the same label across seeds → mean, band and per-seed values on the x-values all seeds share. */
export function combineSeries(list: LineSeries[], seeds: number[]): LineSeries {
  const base = list[0];
  const shared = base.xs.filter((x) => list.every((s) => s.xs.includes(x)));
  const at = (s: LineSeries, x: number) => s.ys[s.xs.indexOf(x)];
  const perSeed = list.map((s, i) => ({ seed: seeds[i], ys: shared.map((x) => at(s, x)) }));
  const ys: number[] = [],
    lo: number[] = [],
    hi: number[] = [];
  shared.forEach((_, k) => {
    const v = perSeed.map((p) => p.ys[k]).filter(Number.isFinite);
    ys.push(v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
    lo.push(v.length ? Math.min(...v) : NaN);
    hi.push(v.length ? Math.max(...v) : NaN);
  });
  return { label: base.label, color: base.color, dashed: base.dashed, xs: shared, ys, band: { lo, hi }, perSeed };
}

function combinePanel(panels: Panel[], seeds: number[]): Panel {
  const p = panels[0];
  if (p.kind === 'lines') {
    const series = p.series.map((s) => {
      const same = (panels as LinePanel[]).map((q) => q.series.find((x) => x.label === s.label));
      return same.every(Boolean) ? combineSeries(same as LineSeries[], seeds) : s;
    });
    return { ...p, series };
  }
  if (p.kind === 'scatter') return { ...p, points: panels.flatMap((q) => (q.kind === 'scatter' ? q.points : [])) };
  return p;
}

export function combineSeeds(figs: FigureData[], seeds: number[]): FigureData {
  if (figs.length !== seeds.length || !figs.length)
    throw new Error(`combineSeeds: ${figs.length} figures for ${seeds.length} seeds`);
  const base = figs[0];
  const panels = base.panels.map((_, i) =>
    combinePanel(
      figs.map((f) => f.panels[i]),
      seeds,
    ),
  );
  const notes = [...base.notes];
  if (panels.some((p) => p.kind === 'lines'))
    notes.push(
      `Thick: mean over seeds ${seeds.join(', ')}; thin: each seed; shaded: their range (min–max). ` +
        "Every seed's values are in data.json and data.csv.",
    );
  if (panels.some((p) => p.kind === 'scatter')) notes.push(`Points of seeds ${seeds.join(', ')} pooled.`);
  if (panels.some((p) => p.kind === 'heat'))
    notes.push(
      `Heatmaps: seed ${seeds[0]} (head roles differ between seeds); the other seeds' matrices are in data.json.`,
    );
  return { ...base, panels, notes, seeds };
}

type Summary = { mean: number; min: number; max: number } | { [k: string]: Summary };

/** Mean / min / max of every numeric leaf present in all seeds' numbers (arrays and strings are left to perSeed). */
export function summarizeSeeds(list: Array<Record<string, unknown>>): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const k of Object.keys(list[0] ?? {})) {
    const vals = list.map((n) => n[k]);
    if (vals.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      const v = vals as number[];
      out[k] = { mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v) };
    } else if (vals.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
      const inner = summarizeSeeds(vals as Array<Record<string, unknown>>);
      if (Object.keys(inner).length) out[k] = inner;
    }
  }
  return out;
}
