/**
 * Host-side helper (no `vscode` import): the HTML shell of every Induction Lab webview. Strict CSP:
 * nothing loads except the nonce'd script and the extension's stylesheet; images only from the
 * extension or `data:` (PNG export draws an SVG `data:` URL onto a canvas).
 *
 *   panel.webview.html = webviewHtml({ cspSource: webview.cspSource, nonce: createNonce(),
 *     scriptUri: webview.asWebviewUri(…/out/webview/dashboard.view.js).toString(),
 *     styleUri: webview.asWebviewUri(…/media/webview.css).toString(), title: 'Run dashboard' });
 */

export interface WebviewHtmlOptions {
  /** `webview.cspSource`. */
  cspSource: string;
  /** A fresh random nonce per render (see `createNonce`). */
  nonce: string;
  /** `asWebviewUri` of out/webview/<name>.view.js, as a string. */
  scriptUri: string;
  /** `asWebviewUri` of media/webview.css, as a string. */
  styleUri: string;
  title: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The Content-Security-Policy of the views. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'unsafe-inline'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

export function webviewHtml(o: WebviewHtmlOptions): string {
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(o.nonce))
    throw new Error('webviewHtml: the nonce must be ≥ 16 base64/alphanumeric characters');
  const csp = escapeHtml(contentSecurityPolicy(o.cspSource, o.nonce));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeHtml(o.styleUri)}">
<title>${escapeHtml(o.title)}</title>
</head>
<body>
<main id="app" aria-label="${escapeHtml(o.title)}"></main>
<script nonce="${escapeHtml(o.nonce)}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>
`;
}

/** 32 random alphanumeric characters (Web Crypto, available in Node ≥ 19 and in browsers). */
export function createNonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => chars[b % chars.length]).join('');
}
