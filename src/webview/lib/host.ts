/**
 * The webview side of the message channel: typed `post` through the VS Code API (./vscodeApi.ts), a
 * validated message listener and the `ready` handshake.
 */
import type { FromWebviewMessage, ToWebviewMessage, ViewName } from '../../shared/webviewProtocol';
import { isToWebviewMessage } from '../../shared/webviewProtocol';
import { applyHostPrefs } from './state';
import { vscodeApi } from './vscodeApi';

export function post(message: FromWebviewMessage): void {
  vscodeApi().postMessage(message);
}

let requestCounter = 0;
export const nextRequestId = (): number => ++requestCounter;

/**
 * Attaches the listener (invalid messages are dropped with a console warning), then posts `ready` with
 * what the view restored (its run and selected step, so the host can adopt the step after a reload).
 */
export function connect(
  view: ViewName,
  handler: (m: ToWebviewMessage) => void,
  restored: { runId?: string; step?: number | null } = {},
): void {
  window.addEventListener('message', (event: MessageEvent) => {
    if (isToWebviewMessage(event.data)) handler(event.data);
    else console.warn('[induction-lab] ignored message', event.data);
  });
  post({ type: 'ready', view, ...(restored.runId ? { runId: restored.runId, step: restored.step ?? null } : {}) });
}

/**
 * Shares the selected step of the run `runId()` returns (undefined: a multi-run view's cursor) with the
 * host, which broadcasts it to every view. While a slider is being dragged, posts at most every `ms`;
 * a final value is posted at once.
 */
export function createStepSharer(
  runId: () => string | undefined = () => undefined,
  ms = 150,
): (sequences: number | null, final: boolean) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: { v: number | null } | undefined;
  let last = 0;
  const flush = () => {
    timer = undefined;
    if (pending) {
      const id = runId();
      post({ type: 'selectStep', sequences: pending.v, ...(id ? { runId: id } : {}) });
      pending = undefined;
      last = Date.now();
    }
  };
  return (sequences, final) => {
    pending = { v: sequences };
    if (final || Date.now() - last >= ms) {
      if (timer) clearTimeout(timer);
      flush();
    } else if (!timer) timer = setTimeout(flush, ms - (Date.now() - last));
  };
}

/**
 * The messages every view handles the same way: `exportResult` and `status` go to the status line.
 * Returns true when `m` was one of them (the view handles the rest).
 */
export function handleCommon(
  m: ToWebviewMessage,
  setStatus: (text: string, level?: 'info' | 'warning' | 'error') => void,
): boolean {
  if (m.type === 'exportResult') {
    setStatus(m.ok ? `Saved ${m.path ?? ''}` : `Export failed: ${m.error ?? 'cancelled'}`, m.ok ? 'info' : 'error');
    return true;
  }
  if (m.type === 'status') {
    setStatus(m.message, m.level);
    return true;
  }
  if (m.type === 'prefs') {
    applyHostPrefs(m.prefs);
    return true;
  }
  return false;
}
