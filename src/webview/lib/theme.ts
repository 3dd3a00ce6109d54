/**
 * Colours. Chrome (text, axes, borders, focus) comes from `--vscode-*` variables through the stylesheet;
 * categorical series use `--vscode-charts-*` (given as `var(...)` so a theme switch recolours them
 * live); magnitudes use viridis and signed values a symmetric RdBu (blue negative, as in the paper).
 */
import { scaleSequential, scaleDiverging } from 'd3-scale';
import { interpolateViridis, interpolateRdBu, schemeTableau10 } from 'd3-scale-chromatic';
import { color as d3color } from 'd3-color';
import type { EvalSetName } from '../../shared/webviewProtocol';

const CHARTS: Array<[string, string]> = [
  ['blue', '#3794ff'], ['orange', '#d18616'], ['green', '#89d185'], ['purple', '#b180d7'], ['red', '#f14c4c'], ['yellow', '#cca700'],
];

/** The i-th categorical colour: the six theme chart colours first, then Tableau 10. */
export function seriesColor(i: number): string {
  if (i < CHARTS.length) { const [n, f] = CHARTS[i]; return `var(--vscode-charts-${n}, ${f})`; }
  return schemeTableau10[(i - CHARTS.length) % schemeTableau10.length];
}

export const EVAL_SET_COLORS: Record<EvalSetName, string> = {
  fsl_train: seriesColor(0),
  fsl_val_rl: seriesColor(1),
  fsl_test_class: seriesColor(2),
  fsl_train_valex: seriesColor(3),
};

/** Resolved value of a CSS variable on <body> (where VS Code's theme variables are visible). */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export const isHighContrast = (): boolean =>
  document.body.classList.contains('vscode-high-contrast') || document.body.classList.contains('vscode-high-contrast-light');

/** Calls back when VS Code switches theme (body class or the root's variables change). */
export function onThemeChange(cb: () => void): void {
  let queued = false;
  const run = () => { if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; cb(); }); } };
  const mo = new MutationObserver(run);
  mo.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  mo.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
}

/** Viridis on [lo, hi], clamped. */
export function viridis(domain: [number, number]) {
  return scaleSequential(interpolateViridis).domain(domain).clamp(true);
}

/** RdBu on [lo, 0, hi] with blue for negative values (App Fig 11), clamped. */
export function diverging(domain: [number, number]) {
  return scaleDiverging((t: number) => interpolateRdBu(1 - t)).domain([domain[0], 0, domain[1]]).clamp(true);
}

/** Black or white text, whichever reads better on `fill` (WCAG relative luminance). */
export function textOn(fill: string): string {
  const c = d3color(fill)?.rgb();
  if (!c) return 'currentColor';
  const lin = (u: number) => { const s = u / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const L = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  return L > 0.179 ? '#000000' : '#ffffff';
}
