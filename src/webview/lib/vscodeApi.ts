/**
 * The VS Code webview API, acquired once (`acquireVsCodeApi` may be called only once per webview). Outside
 * VS Code (a plain browser) an in-memory stand-in keeps the views usable. Its own module so that the message
 * channel (host.ts) and the saved state (state.ts) share it without importing each other both ways.
 */
export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

export function vscodeApi(): VsCodeApi {
  if (!api) {
    if (typeof acquireVsCodeApi === 'function') api = acquireVsCodeApi();
    else {
      let state: unknown;
      api = {
        postMessage: (m) => console.debug('[induction-lab] post', m),
        getState: () => state,
        setState: (s) => {
          state = s;
        },
      };
    }
  }
  return api;
}
