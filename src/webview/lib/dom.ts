/** Small DOM helpers: elements, buttons, selects, a segmented (radio) control, a status line. */

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  children: Array<Node | string> = [],
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

export function button(
  label: string,
  ariaLabel: string,
  onClick: (e: MouseEvent) => void,
  cls = 'btn',
): HTMLButtonElement {
  const b = h('button', { type: 'button', class: cls, 'aria-label': ariaLabel, title: ariaLabel, text: label });
  b.addEventListener('click', onClick);
  return b;
}

export interface SelectOption {
  value: string;
  label: string;
}

export function selectBox(
  label: string,
  options: SelectOption[],
  value: string,
  onChange: (v: string) => void,
): { root: HTMLElement; select: HTMLSelectElement; setOptions(o: SelectOption[], v: string): void } {
  const select = h('select', { 'aria-label': label });
  const setOptions = (opts: SelectOption[], v: string) => {
    select.replaceChildren(...opts.map((o) => h('option', { value: o.value, text: o.label })));
    select.value = v;
  };
  setOptions(options, value);
  select.addEventListener('change', () => onChange(select.value));
  const root = h('label', { class: 'field' }, [h('span', { class: 'field-label', text: label }), select]);
  return { root, select, setOptions };
}

/** A radio group of buttons (arrow keys move, Space/Enter/click picks). */
export function segmented<T extends string>(
  label: string,
  options: Array<{ value: T; label: string }>,
  value: T,
  onChange: (v: T) => void,
): { root: HTMLElement; set(v: T): void } {
  const root = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': label });
  const buttons = options.map((o) => {
    const b = h('button', { type: 'button', role: 'radio', class: 'seg', text: o.label, 'data-value': o.value });
    b.addEventListener('click', () => {
      set(o.value);
      onChange(o.value);
    });
    b.addEventListener('keydown', (e) => {
      const i = options.findIndex((x) => x.value === o.value);
      const d =
        e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 0;
      if (!d) return;
      e.preventDefault();
      const next = options[(i + d + options.length) % options.length];
      set(next.value);
      onChange(next.value);
      buttons[options.indexOf(next)].focus();
    });
    return b;
  });
  const set = (v: T) =>
    buttons.forEach((b, i) => {
      const on = options[i].value === v;
      b.setAttribute('aria-checked', String(on));
      b.tabIndex = on ? 0 : -1;
    });
  set(value);
  root.append(...buttons);
  return { root, set };
}

export function checkbox(
  label: string,
  checked: boolean,
  onChange: (v: boolean) => void,
): { root: HTMLElement; input: HTMLInputElement } {
  const input = h('input', { type: 'checkbox' });
  input.checked = checked;
  input.addEventListener('change', () => onChange(input.checked));
  return { root: h('label', { class: 'field check' }, [input, h('span', { text: label })]), input };
}

/** A polite live region for status text (loading, export results, errors). */
export function statusLine(parent: HTMLElement): (text: string, level?: 'info' | 'warning' | 'error') => void {
  const el = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
  parent.append(el);
  return (text, level = 'info') => {
    el.textContent = text;
    el.dataset.level = level;
  };
}
