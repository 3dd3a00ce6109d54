/**
 * The webview side of the message channel: the VS Code API (acquired once), typed `post`, a validated
 * message listener and the `ready` handshake. Outside VS Code (a plain browser) an in-memory stand-in
 * keeps the views usable.
 */
import type { FromWebviewMessage, ToWebviewMessage, ViewName } from '../../shared/webviewProtocol';
import { isToWebviewMessage } from '../../shared/webviewProtocol';

export interface VsCodeApi { postMessage(message: unknown): void; getState(): unknown; setState(state: unknown): void }
declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

/** `acquireVsCodeApi` may be called only once per webview: everything goes through this. */
export function vscodeApi(): VsCodeApi {
  if (!api) {
    if (typeof acquireVsCodeApi === 'function') api = acquireVsCodeApi();
    else {
      let state: unknown;
      api = { postMessage: (m) => console.debug('[induction-lab] post', m), getState: () => state, setState: (s) => { state = s; } };
    }
  }
  return api;
}

export function post(message: FromWebviewMessage): void {
  vscodeApi().postMessage(message);
}

let requestCounter = 0;
export const nextRequestId = (): number => ++requestCounter;

/** Attaches the listener (invalid messages are dropped with a console warning), then posts `ready`. */
export function connect(view: ViewName, handler: (m: ToWebviewMessage) => void): void {
  window.addEventListener('message', (event: MessageEvent) => {
    if (isToWebviewMessage(event.data)) handler(event.data);
    else console.warn('[induction-lab] ignored message', event.data);
  });
  post({ type: 'ready', view });
}

/**
 * Shares the selected step with the host (which broadcasts it to every view). While a slider is being
 * dragged, posts at most every `ms`; a final value is posted at once.
 */
export function createStepSharer(ms = 150): (sequences: number | null, final: boolean) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: { v: number | null } | undefined;
  let last = 0;
  const flush = () => {
    timer = undefined;
    if (pending) { post({ type: 'selectStep', sequences: pending.v }); pending = undefined; last = Date.now(); }
  };
  return (sequences, final) => {
    pending = { v: sequences };
    if (final || Date.now() - last >= ms) { if (timer) clearTimeout(timer); flush(); }
    else if (!timer) timer = setTimeout(flush, ms - (Date.now() - last));
  };
}
