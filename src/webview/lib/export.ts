/**
 * Figure and data export. SVG: the live chart cloned with its computed (theme-resolved) styles inlined,
 * a background and an optional title, so the file looks like the view outside VS Code. PNG: that SVG
 * drawn onto a canvas at 2×. CSV/JSON: text from the view. The host shows the save dialog.
 *
 * Figures for papers: the background is the theme's, white or transparent; on white / transparent
 * the chrome (text, axes, grid) is drawn dark and dark-theme series colours are swapped for the
 * light-theme palette (same index, same meaning). UI state (hover, selected step, focus) is never
 * exported. The run's metadata rides along: SVG `<metadata>`, PNG iTXt chunk, JSON `meta`.
 */
import type { ExportFormat } from '../../shared/webviewProtocol';
import { post, nextRequestId } from './host';
import { cssVar, PALETTES, themeKind } from './theme';
import { rgb } from 'd3-color';
import { addPngText } from './png';

export type FigureBackground = 'theme' | 'white' | 'transparent';
export const FIGURE_BACKGROUNDS: readonly FigureBackground[] = ['theme', 'white', 'transparent'];
/** PNG keyword and SVG metadata id of the embedded metadata. */
export const META_KEY = 'induction-lab';

/** Chrome for white / transparent figures (CSS variables of the stylesheet). */
const PAPER_CHROME: Record<string, string> = {
  '--fg': '#1f1f1f',
  '--muted': '#555555',
  '--grid': '#d4d4d4',
  '--bg': '#ffffff',
  '--border': '#c8c8c8',
};

/** Serialized colours of the dark palette → the light palette's, for figures on white. */
export function paperColourMap(): Map<string, string> {
  return new Map(PALETTES.dark.map((c, i) => [rgb(c).toString(), rgb(PALETTES.light[i]).toString()]));
}

/** Replaces every `rgb(…)` of `map` in serialized SVG text. Pure. */
export function remapColours(text: string, map: Map<string, string>): string {
  return text.replace(/rgb\(\d{1,3}, \d{1,3}, \d{1,3}\)/g, (c) => map.get(c) ?? c);
}

const STYLE_PROPS = [
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-opacity',
  'stroke-dasharray',
  'stroke-linecap',
  'stroke-linejoin',
  'opacity',
  'font-family',
  'font-size',
  'font-weight',
  'font-style',
  'text-anchor',
  'dominant-baseline',
  'visibility',
  'display',
  'shape-rendering',
  'stop-color',
  'stop-opacity',
  'paint-order',
];

/** Non-inherited properties and their initial values. */
const NOT_INHERITED: Record<string, string> = {
  opacity: '1',
  display: 'inline',
  'stop-color': 'rgb(0, 0, 0)',
  'stop-opacity': '1',
};

export interface SvgExportOptions {
  title?: string;
  background?: FigureBackground;
  meta?: unknown;
}

/** Serializes `svg` with computed styles inlined; elements with class `no-export` are dropped. */
export function serializeSvg(
  svg: SVGSVGElement,
  o: SvgExportOptions = {},
): { text: string; width: number; height: number } {
  const bg = o.background ?? 'theme';
  const paper = bg !== 'theme';
  // Paper chrome: override the stylesheet's variables on the live chart while its styles are read.
  const saved = Object.keys(PAPER_CHROME).map((k) => [k, svg.style.getPropertyValue(k)] as const);
  if (paper) for (const [k, v] of Object.entries(PAPER_CHROME)) svg.style.setProperty(k, v);
  try {
    return serializeWith(svg, o, bg);
  } finally {
    if (paper)
      for (const [k, v] of saved) {
        if (v) svg.style.setProperty(k, v);
        else svg.style.removeProperty(k);
      }
  }
}

function serializeWith(
  svg: SVGSVGElement,
  o: SvgExportOptions,
  bgMode: FigureBackground,
): { text: string; width: number; height: number } {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const src = [svg, ...Array.from(svg.querySelectorAll('*'))];
  const dst = [clone, ...Array.from(clone.querySelectorAll('*'))];
  const computed = new Map<Element, CSSStyleDeclaration>(src.map((el) => [el, getComputedStyle(el)]));
  src.forEach((el, i) => {
    const cs = computed.get(el)!;
    const parent = i === 0 ? undefined : computed.get(el.parentElement!);
    const decl: string[] = [];
    for (const p of STYLE_PROPS) {
      let v = cs.getPropertyValue(p);
      if (!v) continue;
      // Keep the file small: inherited values equal to the parent's, and non-inherited defaults, are implied.
      if (p in NOT_INHERITED) {
        if (v === NOT_INHERITED[p]) continue;
      } else if (parent && parent.getPropertyValue(p) === v) continue;
      // Gradient references: keep the local attribute (computed values may be absolute URLs).
      if (v.includes('url(')) {
        const a = el.getAttribute(p);
        if (!a) continue;
        v = a;
      }
      decl.push(`${p}:${v}`);
    }
    const d = dst[i] as Element;
    d.setAttribute('style', decl.join(';'));
    d.removeAttribute('class');
    d.removeAttribute('tabindex');
    d.removeAttribute('role');
  });
  src.forEach((el, i) => {
    if (el.classList.contains('no-export')) dst[i].remove();
  });

  const box = svg.getBoundingClientRect();
  const bodyWidth = Math.ceil(Number(svg.getAttribute('width')) || box.width);
  const bodyHeight = Math.ceil(Number(svg.getAttribute('height')) || box.height);
  const pad = 10;
  const titleH = o.title ? 26 : 0;
  const width = bodyWidth + 2 * pad;
  const height = bodyHeight + titleH + 2 * pad;
  const ns = 'http://www.w3.org/2000/svg';
  const wrap = document.createElementNS(ns, 'g');
  wrap.setAttribute('transform', `translate(${pad},${titleH + pad})`);
  while (clone.firstChild) wrap.append(clone.firstChild);
  if (o.meta !== undefined) {
    const md = document.createElementNS(ns, 'metadata');
    md.setAttribute('id', META_KEY);
    md.textContent = JSON.stringify(o.meta);
    clone.append(md);
  }
  if (bgMode !== 'transparent') {
    const bg = document.createElementNS(ns, 'rect');
    bg.setAttribute('width', String(width));
    bg.setAttribute('height', String(height));
    bg.setAttribute('fill', bgMode === 'white' ? '#ffffff' : cssVar('--vscode-editor-background', '#1e1e1e'));
    clone.append(bg);
  }
  if (o.title) {
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', String(pad));
    t.setAttribute('y', String(pad + 16));
    const cs = getComputedStyle(svg);
    t.setAttribute('style', `fill:${cs.color};font-family:${cs.fontFamily};font-size:14px;font-weight:600`);
    t.textContent = o.title;
    clone.append(t);
  }
  clone.append(wrap);
  clone.setAttribute('xmlns', ns);
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  clone.setAttribute('viewBox', `0 0 ${width} ${height}`);
  clone.removeAttribute('aria-label');
  let text = new XMLSerializer().serializeToString(clone);
  const kind = themeKind();
  if (bgMode !== 'theme' && (kind === 'dark' || kind === 'hc-dark')) text = remapColours(text, paperColourMap());
  return { text: `<?xml version="1.0" encoding="UTF-8"?>\n${text}`, width, height };
}

/** Renders SVG text to a PNG (base64, no data: prefix) at `scale`× resolution, with `meta` as an iTXt chunk. */
export async function svgToPngBase64(
  svgText: string,
  width: number,
  height: number,
  scale = 2,
  meta?: unknown,
): Promise<string> {
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText)}`;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas');
  ctx.scale(scale, scale);
  ctx.drawImage(img, 0, 0, width, height);
  const b64 = canvas.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
  if (meta === undefined) return b64;
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const out = addPngText(bytes, META_KEY, JSON.stringify(meta));
  let bin = '';
  for (let i = 0; i < out.length; i += 0x8000) bin += String.fromCharCode(...out.subarray(i, i + 0x8000));
  return btoa(bin);
}

export interface ExportSource {
  /** File name stem without extension, e.g. "main-loss-seq120000". */
  stem: () => string;
  /** Title drawn at the top of exported figures. */
  title?: () => string;
  svg: () => SVGSVGElement | null;
  csv: () => string;
  json: () => unknown;
  /** Run metadata embedded in figures and added to JSON (run id, name, config summary, step, view options). */
  meta?: () => unknown;
}

/** JSON export: the view's data with the metadata beside it (arrays are wrapped as `{ meta, data }`). */
export function withMeta(data: unknown, meta: unknown): unknown {
  if (meta === undefined) return data;
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) return { meta, ...data };
  return { meta, data };
}

/** Builds the file and posts `export`; returns the request id (matched by `exportResult.inReplyTo`). */
export async function exportAs(
  format: ExportFormat,
  src: ExportSource,
  background: FigureBackground = 'theme',
): Promise<number> {
  const requestId = nextRequestId();
  const meta = src.meta
    ? { ...(src.meta() as object), exported: new Date().toISOString(), tool: 'Induction Lab' }
    : undefined;
  const figure = format === 'png' || format === 'svg';
  const fileName = `${src.stem()}${figure && background !== 'theme' ? `-${background}` : ''}.${format}`;
  let data: string;
  if (format === 'csv') data = src.csv();
  else if (format === 'json') {
    const finite = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v);
    data = JSON.stringify(withMeta(src.json(), meta), finite, 2);
  } else {
    const svg = src.svg();
    if (!svg) throw new Error('nothing to export yet');
    const s = serializeSvg(svg, { title: src.title?.(), background, meta });
    data = format === 'svg' ? s.text : await svgToPngBase64(s.text, s.width, s.height, 2, meta);
  }
  post({ type: 'export', format, fileName, data, requestId });
  return requestId;
}
