/**
 * The chart options bar (TensorBoard / W&B habits): linear or log x, and EMA smoothing with the raw
 * curve kept faint behind. The view persists the values and redraws on change.
 */
import { h, segmented } from './dom';
import type { XScaleMode } from './xscale';

export interface ChartOptionsValue {
  xScale: XScaleMode;
  smoothing: number;
}

export function createChartOptions(
  parent: HTMLElement,
  value: ChartOptionsValue,
  onChange: (v: ChartOptionsValue) => void,
): { root: HTMLElement; set(v: ChartOptionsValue): void } {
  let cur = { ...value };
  const modes: Array<{ value: XScaleMode; label: string }> = [
    { value: 'linear', label: 'Linear x' },
    { value: 'log', label: 'Log x' },
  ];
  const scale = segmented<XScaleMode>('x axis', modes, cur.xScale, (v) => {
    cur = { ...cur, xScale: v };
    onChange(cur);
  });
  const range = h('input', {
    type: 'range',
    min: 0,
    max: 0.99,
    step: 0.01,
    'aria-label': 'Smoothing (exponential moving average weight)',
  });
  const out = h('output', { 'aria-hidden': 'true' });
  const show = () => {
    range.value = String(cur.smoothing);
    out.textContent = cur.smoothing.toFixed(2);
  };
  range.addEventListener('input', () => {
    cur = { ...cur, smoothing: Number(range.value) };
    show();
    onChange(cur);
  });
  const root = h('div', { class: 'chart-options', role: 'group', 'aria-label': 'Chart options' }, [
    scale.root,
    h(
      'label',
      {
        class: 'field',
        title: 'TensorBoard-style smoothing: debiased exponential moving average; the raw curve stays faint behind',
      },
      [h('span', { class: 'field-label', text: 'Smoothing' }), range, out],
    ),
  ]);
  show();
  parent.append(root);
  return {
    root,
    set(v) {
      cur = { ...v };
      scale.set(v.xScale);
      show();
    },
  };
}
