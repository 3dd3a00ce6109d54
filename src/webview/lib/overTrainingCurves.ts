/**
 * The "over training" section of the influence view (issue 11 part 4): one line chart per curve set
 * (keep-one accuracy of each Layer-2 head, influence of each PTH on the strongest IH, …) with the
 * selected checkpoint as the cursor, log-x and smoothing, clamp bands / faded ablated heads, a data
 * table and export; above them what is measured and, when something is missing, the command that
 * computes it and a button that asks the host to run it.
 */
import type { OverTrainingData, RunSummary } from '../../shared/webviewProtocol';
import { LN2, LN2_LABEL } from '../../shared/webviewProtocol';
import { h, button } from './dom';
import { createPanel, type Panel } from './panel';
import { createLineChart, type LineChart, type PlotData } from './chart';
import { createChartOptions, type ChartOptionsValue } from './chartOptions';
import { clampBands, wholeRunClamps } from './clampMarks';
import { sequencesDomain } from './domains';
import { seriesColor } from './theme';
import { toCsv } from './csv';
import { fileStem } from './format';
import { aboutNote, coverageNote, curveSeries, curveYDomain } from './overTraining';

export interface OverTrainingCurves {
  root: HTMLElement;
  update(d: OverTrainingData | undefined, run: RunSummary | undefined, shown: number | null): void;
}

interface Chart {
  panel: Panel;
  chart: LineChart;
  notes: HTMLElement;
  hidden: Set<string>;
}

export function createOverTrainingCurves(
  parent: HTMLElement,
  o: {
    options: ChartOptionsValue;
    onOptions: (v: ChartOptionsValue) => void;
    onPick: (x: number) => void;
    onCompute: () => void;
    setStatus: (text: string, level?: 'info' | 'error') => void;
  },
): OverTrainingCurves {
  const root = h('section', { class: 'over-training', 'aria-label': 'Measures over training' });
  const heading = h('h2', { text: 'Over training' });
  const note = h('p', { class: 'coverage-note' });
  const compute = button(
    'Compute Measures over Training',
    'Compute the measures at every checkpoint of this run',
    () => o.onCompute(),
    'btn',
  );
  const charts = h('div', { class: 'over-training-charts' });
  root.append(heading, h('div', { class: 'toolbar' }, [note, compute]));
  let opts = { ...o.options };
  createChartOptions(root, opts, (v) => {
    opts = v;
    o.onOptions(v);
    redraw();
  });
  root.append(charts);
  parent.append(root);

  const byId = new Map<string, Chart>();
  let last: { d?: OverTrainingData; run?: RunSummary; shown: number | null } = { shown: null };

  const chartFor = (id: string, title: string): Chart => {
    let c = byId.get(id);
    if (c) return c;
    const set = () => last.d?.curves.find((s) => s.id === id);
    const panel = createPanel(
      charts,
      title,
      {
        stem: () => fileStem(last.run?.name ?? 'run', 'over-training', id),
        title: () => `${last.run?.name ?? ''}: ${set()?.title ?? title}`,
        svg: () => byId.get(id)?.chart.svg ?? null,
        csv: () => {
          const s = set();
          if (!s) return '';
          const rows = s.sequences.map((x, k) => [x, ...s.lines.map((l) => l.ys[k])]);
          return toCsv(['sequences', ...s.lines.map((l) => l.label)], rows);
        },
        json: () => set() ?? null,
        meta: () => ({ run: last.run, view: 'influence', section: 'over training', curves: id, source: set()?.source }),
      },
      o.setStatus,
    );
    const chart = createLineChart(panel.body, { ariaLabel: title, height: 240, onPick: o.onPick });
    const notes = h('div', { class: 'formula-note' });
    panel.body.append(notes);
    c = { panel, chart, notes, hidden: new Set() };
    byId.set(id, c);
    return c;
  };

  function redraw(): void {
    const { d, run, shown } = last;
    const cov = coverageNote(d);
    note.textContent = cov;
    note.style.display = cov ? '' : 'none';
    compute.style.display = cov && run ? '' : 'none';
    const ids = new Set((d?.curves ?? []).map((s) => s.id));
    for (const [id, c] of byId) c.panel.root.style.display = ids.has(id) ? '' : 'none';
    const whole = wholeRunClamps(run?.clamps ?? [], run?.totalSequences || Infinity);
    for (const set of d?.curves ?? []) {
      const c = chartFor(set.id, set.title);
      c.panel.setTitle(set.title);
      const series = curveSeries(set, run?.clamps ?? [], (i) => seriesColor(i)).map((s) => ({
        ...s,
        hidden: c.hidden.has(s.id),
      }));
      const xDomain = sequencesDomain(run?.totalSequences ?? 0, set.sequences);
      const plot: PlotData = {
        series,
        xDomain,
        yDomain: curveYDomain(set),
        xScale: opts.xScale,
        smoothing: opts.smoothing,
        bands: clampBands(run?.clamps ?? [], xDomain[1]),
        refLines: set.ln2 ? [{ id: 'ln2', y: LN2, label: `ln 2: ${LN2_LABEL}`, short: 'ln 2' }] : [],
        selectedX: shown,
        xLabel: '# sequences seen',
        yLabel: set.yLabel,
      };
      c.chart.update(plot, {
        items: series.map((s) => ({
          id: s.id,
          label: s.label,
          color: s.color,
          dash: s.dash,
          hidden: s.hidden,
          faded: s.faded,
        })),
        options: {
          onToggle: (id) => {
            if (!c.hidden.delete(id)) c.hidden.add(id);
            redraw();
          },
          dashedRef: set.ln2 ? { label: `ln 2: ${LN2_LABEL}` } : undefined,
          notes: whole.length ? [`Clamped for the whole run: ${whole.join('; ')}`] : [],
        },
      });
      c.notes.replaceChildren(
        ...[set.formula, aboutNote(set, run?.clamps ?? []), `from ${set.source}`]
          .filter(Boolean)
          .map((t) => h('div', { text: t })),
      );
    }
  }

  return {
    root,
    update(d, run, shown) {
      last = { d, run, shown };
      redraw();
    },
  };
}
