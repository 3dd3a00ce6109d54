/** Number formats shared by the views. Pure module. */

/** "120,000" */
export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** Short sequences for axes and labels: 0, 500, 12k, 1.5M. */
export function fmtSeqShort(n: number): string {
  const a = Math.abs(n);
  const trim = (x: number) => String(Number(x.toFixed(2)));
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}

/** Values in tooltips and cells: 3 significant decimals, "–" for missing. */
export function fmtValue(v: number | undefined | null, digits = 3): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (v !== 0 && Math.abs(v) < 10 ** -digits) return v.toExponential(1);
  return v.toFixed(digits);
}

/** Fixed decimals for heatmap cells, without "-0.00". */
export function fmtCell(v: number, digits = 2): string {
  if (!Number.isFinite(v)) return '';
  const t = v.toFixed(digits);
  return /^-0\.?0*$/.test(t) ? t.slice(1) : t;
}

/** A safe file name stem: letters, digits, dot, dash and underscore. */
export function fileStem(...parts: Array<string | number | undefined>): string {
  return (
    parts
      .filter((p) => p !== undefined && p !== '')
      .map((p) => String(p))
      .join('-')
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/_+/g, '_')
      .slice(0, 120) || 'chart'
  );
}

/** Greedy word wrap to lines of at most `maxChars` characters (a longer word gets its own line). */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (cur && cur.length + 1 + w.length > maxChars) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines;
}
