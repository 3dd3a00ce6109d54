/**
 * Colours. Chrome (text, axes, borders, focus) comes from `--vscode-*` variables through the stylesheet;
 * categorical series use opaque, colour-blind-safe palettes picked for the theme's background (the
 * `--vscode-charts-*` variables are not used: several resolve to translucent rgba values); magnitudes
 * use viridis and signed values a symmetric RdBu (blue negative, as in the paper).
 */
import { scaleSequential, scaleDiverging } from 'd3-scale';
import { interpolateViridis, interpolateRdBu } from 'd3-scale-chromatic';
import { color as d3color } from 'd3-color';
import type { EvalSetName } from '../../shared/webviewProtocol';
import { EVAL_SETS } from '../../shared/webviewProtocol';

export type ThemeKind = 'dark' | 'light' | 'hc-dark' | 'hc-light';

/**
 * Eight hues per background, from Okabe & Ito's colour-blind-safe set (as used in Nature Methods
 * figures). Index i keeps its hue across themes where it can; on light backgrounds yellow (contrast
 * 1.3 on white) becomes Tol's wine and sky blue / blue swap places, on dark ones black becomes grey.
 * Measured (test/unit/webview.test.ts): every pair ≥ 14 ΔE (CIE76) under normal vision and simulated
 * deuteranopia, protanopia and tritanopia; every colour ≥ 2:1 against the theme background (white, #f3f3f3,
 * #1e1e1e, black).
 */
export const PALETTES: Record<'dark' | 'light', readonly string[]> = {
  dark: ['#56B4E9', '#E69F00', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#BBBBBB'],
  light: ['#0072B2', '#E69F00', '#009E73', '#882255', '#56B4E9', '#D55E00', '#CC79A7', '#000000'],
};
/** Beyond eight series the hues repeat with these dash patterns. */
const DASHES = [undefined, '6 3', '2 2', '8 3 2 3'];

/** The current VS Code theme kind (from the classes VS Code puts on <body>); 'dark' outside a DOM. */
export function themeKind(): ThemeKind {
  if (typeof document === 'undefined') return 'dark';
  const c = document.body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'hc-light';
  if (c.contains('vscode-high-contrast')) return 'hc-dark';
  return c.contains('vscode-light') ? 'light' : 'dark';
}

const isLightKind = (k: ThemeKind): boolean => k === 'light' || k === 'hc-light';

/** The i-th categorical colour for a theme (cycles after 8; see seriesDash). */
export function seriesColor(i: number, kind: ThemeKind = themeKind()): string {
  const p = PALETTES[isLightKind(kind) ? 'light' : 'dark'];
  return p[((i % p.length) + p.length) % p.length];
}

/** Dash pattern of the i-th series: solid for the first 8, then patterns so repeated hues stay apart. */
export function seriesDash(i: number): string | undefined {
  return DASHES[Math.floor(Math.max(0, i) / PALETTES.dark.length) % DASHES.length];
}

/** Colour of an eval set's curve (fixed per set, so "test (relabel)" has one colour in every view). */
export function evalSetColor(set: string, kind: ThemeKind = themeKind()): string {
  const i = EVAL_SETS.indexOf(set as EvalSetName);
  return seriesColor(i < 0 ? EVAL_SETS.length : i, kind);
}

/** Resolved value of a CSS variable on <body> (where VS Code's theme variables are visible). */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** Calls back when VS Code switches theme (body class or the root's variables change). */
export function onThemeChange(cb: () => void): void {
  let queued = false;
  const run = () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        cb();
      });
    }
  };
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
  return scaleDiverging((t: number) => interpolateRdBu(1 - t))
    .domain([domain[0], 0, domain[1]])
    .clamp(true);
}

/** Black or white text, whichever reads better on `fill` (WCAG relative luminance). */
export function textOn(fill: string): string {
  const c = d3color(fill)?.rgb();
  if (!c) return 'currentColor';
  const lin = (u: number) => {
    const s = u / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const L = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  return L > 0.179 ? '#000000' : '#ffffff';
}
