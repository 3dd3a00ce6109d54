/**
 * The step slider: a range input over the available steps (sequences seen) with previous/next
 * buttons and optional play. `null` means "follow the latest step". Every view's slider feeds the one
 * shared step (the view posts `selectStep`; the host broadcasts `step`).
 */
import { h, button } from './dom';
import { fmtInt } from './format';
import { nearestIndex } from './steps';

export interface StepSlider {
  root: HTMLElement;
  setSteps(steps: number[]): void;
  /** Moves the thumb without calling back (e.g. on a broadcast `step`). */
  setValue(sequences: number | null): void;
  value(): number | null;
  stop(): void;
}

export interface StepSliderOptions {
  label: string;
  /** `final` is false while dragging. */
  onChange: (sequences: number | null, final: boolean) => void;
  /** Allow "latest" (null) when the thumb is at the end. */
  follow?: boolean;
  play?: boolean;
  playMs?: number;
}

export function createStepSlider(parent: HTMLElement, o: StepSliderOptions): StepSlider {
  let steps: number[] = [];
  let value: number | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  const input = h('input', {
    type: 'range',
    min: 0,
    max: 0,
    step: 1,
    value: 0,
    'aria-label': o.label,
    class: 'step-range',
  });
  const readout = h('output', { class: 'step-readout', 'aria-live': 'off' });
  const index = () => (steps.length === 0 ? -1 : value === null ? steps.length - 1 : nearestIndex(steps, value));
  const render = () => {
    input.max = String(Math.max(0, steps.length - 1));
    input.disabled = steps.length === 0;
    const i = index();
    input.value = String(Math.max(0, i));
    const txt =
      i < 0 ? 'no steps yet' : `${fmtInt(steps[i])} sequences${value === null && o.follow ? ' (latest)' : ''}`;
    readout.textContent = txt;
    input.setAttribute('aria-valuetext', txt);
    prev.disabled = i <= 0;
    next.disabled = i < 0 || i >= steps.length - 1;
  };
  const choose = (i: number, final: boolean) => {
    if (steps.length === 0) return;
    i = Math.max(0, Math.min(steps.length - 1, i));
    const v = o.follow && i === steps.length - 1 ? null : steps[i];
    if (v === value && !final) return;
    value = v;
    render();
    o.onChange(v, final);
  };
  const prev = button('◀', 'Previous step', () => choose(index() - 1, true), 'btn icon');
  const next = button('▶', 'Next step', () => choose(index() + 1, true), 'btn icon');
  const stop = () => {
    if (timer) {
      clearInterval(timer);
      timer = undefined;
    }
    if (playBtn) {
      playBtn.setAttribute('aria-pressed', 'false');
      playBtn.textContent = 'Play';
    }
  };
  const playBtn = o.play
    ? button(
        'Play',
        'Play through the steps',
        () => {
          if (timer) {
            stop();
            return;
          }
          if (index() >= steps.length - 1) choose(0, true);
          playBtn!.setAttribute('aria-pressed', 'true');
          playBtn!.textContent = 'Pause';
          timer = setInterval(() => {
            if (index() >= steps.length - 1) stop();
            else choose(index() + 1, true);
          }, o.playMs ?? 600);
        },
        'btn',
      )
    : undefined;
  input.addEventListener('input', () => {
    stop();
    choose(Number(input.value), false);
  });
  input.addEventListener('change', () => choose(Number(input.value), true));
  const root = h('div', { class: 'slider', role: 'group', 'aria-label': o.label }, [
    h('span', { class: 'field-label', text: 'Step' }),
    prev,
    input,
    next,
    ...(playBtn ? [playBtn] : []),
    readout,
  ]);
  parent.append(root);
  render();
  return {
    root,
    setSteps(s) {
      steps = s;
      render();
    },
    setValue(v) {
      if (v !== value) {
        value = v;
        render();
      }
    },
    value: () => (value === null || steps.length === 0 ? value : steps[index()]),
    stop,
  };
}
