/**
 * Rate limits for refreshes driven by streams of events (no vscode import: unit-tested). A debounce waits
 * for a pause, so it never fires while metrics keep arriving; a throttle fires at most once per interval
 * while events keep coming, and once more after the last.
 */

export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/** Calls fn at most once per `ms` while calls keep coming, and once more after the last call. */
export function throttle(fn: () => void, ms: number): () => void {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
      return;
    }
    if (!timer)
      timer = setTimeout(() => {
        timer = undefined;
        last = Date.now();
        fn();
      }, wait);
  };
}
