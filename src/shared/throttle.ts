/**
 * A trailing throttle: `fn` runs at most once per `ms`, and always after the last call. Unlike a
 * debounce, a stream of calls more often than `ms` (metrics lines of running children) still makes it
 * run once a window. Pure (timers only), unit-tested.
 */
export interface Throttled {
  (): void;
  cancel(): void;
}

export function throttle(fn: () => void, ms: number): Throttled {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = -Infinity;
  const t = (() => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      fn();
    }, wait);
  }) as Throttled;
  t.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  return t;
}
