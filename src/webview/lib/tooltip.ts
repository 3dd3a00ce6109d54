/** One floating tooltip per view, plus a screen-reader announcement of what it shows. */
import { h } from './dom';

export interface TipLine {
  text: string;
  color?: string;
  dash?: string;
  strong?: boolean;
}

let tip: HTMLElement | undefined;
let live: HTMLElement | undefined;

function ensure(): HTMLElement {
  if (!tip) {
    tip = h('div', { class: 'tooltip', role: 'tooltip', 'aria-hidden': 'true' });
    live = h('div', { class: 'sr-only', 'aria-live': 'polite' });
    document.body.append(tip, live);
  }
  return tip;
}

/** Shows lines near (clientX, clientY), kept inside the viewport. */
export function showTip(lines: Array<TipLine | string>, clientX: number, clientY: number, announce = false): void {
  const t = ensure();
  t.replaceChildren(
    ...lines.map((l) => {
      const line = typeof l === 'string' ? { text: l } : l;
      const row = h('div', { class: line.strong ? 'tip-row strong' : 'tip-row' });
      if (line.color) {
        const sw = h('span', { class: 'swatch' });
        sw.style.background = line.color;
        row.append(sw);
      }
      row.append(line.text);
      return row;
    }),
  );
  t.style.display = 'block';
  const pad = 12,
    r = t.getBoundingClientRect();
  let x = clientX + pad,
    y = clientY + pad;
  if (x + r.width > window.innerWidth - 4) x = Math.max(4, clientX - pad - r.width);
  if (y + r.height > window.innerHeight - 4) y = Math.max(4, clientY - pad - r.height);
  t.style.left = `${x}px`;
  t.style.top = `${y}px`;
  if (announce && live) live.textContent = lines.map((l) => (typeof l === 'string' ? l : l.text)).join('; ');
}

export function hideTip(): void {
  if (tip) tip.style.display = 'none';
}
