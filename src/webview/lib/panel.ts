/**
 * A titled section with optional controls and an export toolbar (PNG, SVG, CSV, JSON, and the figure
 * background: the theme's, white or transparent — one preference for every panel of the view).
 */
import { EXPORT_FORMATS } from '../../shared/webviewProtocol';
import { h, button } from './dom';
import { exportAs, FIGURE_BACKGROUNDS, type ExportSource, type FigureBackground } from './export';
import { pref, onPrefs } from './state';

const background = pref<FigureBackground>('figureBackground', 'theme', FIGURE_BACKGROUNDS);
const backgroundSelects: HTMLSelectElement[] = [];
onPrefs(() => {
  for (const s of backgroundSelects) s.value = background.get();
});

export interface Panel {
  root: HTMLElement;
  controls: HTMLElement;
  body: HTMLElement;
  setTitle(t: string): void;
}

export function createPanel(
  parent: HTMLElement,
  title: string,
  source: ExportSource,
  onStatus: (text: string, level?: 'info' | 'error') => void,
): Panel {
  const heading = h('h2', { text: title });
  const controls = h('div', { class: 'controls' });
  const tools = h('div', { class: 'export', role: 'toolbar', 'aria-label': `Export ${title}` });
  const bg = h(
    'select',
    { class: 'small', 'aria-label': 'Figure background (PNG, SVG)', title: 'Figure background of PNG and SVG exports' },
    FIGURE_BACKGROUNDS.map((b) => h('option', { value: b, text: b === 'theme' ? 'theme bg' : b })),
  );
  bg.value = background.get();
  bg.addEventListener('change', () => {
    background.set(bg.value as FigureBackground);
    for (const s of backgroundSelects) s.value = bg.value;
  });
  backgroundSelects.push(bg);
  tools.append(bg);
  for (const f of EXPORT_FORMATS) {
    tools.append(
      button(
        f.toUpperCase(),
        `Export ${title} as ${f.toUpperCase()}`,
        () => {
          exportAs(f, source, background.get()).then(
            () => onStatus(`Exporting ${f.toUpperCase()}…`),
            (e: unknown) => onStatus(`Export failed: ${e instanceof Error ? e.message : String(e)}`, 'error'),
          );
        },
        'btn small',
      ),
    );
  }
  const body = h('div', { class: 'panel-body' });
  const root = h('section', { class: 'panel', 'aria-label': title }, [
    h('header', { class: 'panel-head' }, [heading, controls, tools]),
    body,
  ]);
  parent.append(root);
  return {
    root,
    controls,
    body,
    setTitle: (t) => {
      heading.textContent = t;
      root.setAttribute('aria-label', t);
    },
  };
}
