/**
 * Head references. People write the paper's 1-indexed layers ("L2H3" = Layer 2 head 3) or the reference
 * code's 0-indexed form ("1:3", the same head); both parse to one canonical 0-indexed record, stored as
 * "L2H3". Head indices are 0-based in both forms, as in the paper.
 */
export interface HeadRef {
  layer: number;
  head: number;
}

export function parseHead(text: string, depth: number, numHeads: number): HeadRef {
  const t = text.trim();
  let m = /^L(\d+)H(\d+)$/i.exec(t);
  let layer: number, head: number;
  if (m) {
    layer = Number(m[1]) - 1;
    head = Number(m[2]);
    if (layer < 0) throw new Error(`unknown head "${text}": paper layers start at L1`);
  } else if ((m = /^(\d+):(\d+)$/.exec(t))) {
    layer = Number(m[1]);
    head = Number(m[2]);
  } else
    throw new Error(
      `cannot read head "${text}": write L<layer>H<head> (paper layers from 1, e.g. L2H3) or <layer>:<head> (code layers from 0, e.g. 1:3)`,
    );
  if (layer >= depth)
    throw new Error(`unknown head "${text}": the model has ${depth} layers (L1…L${depth}, or 0:…${depth - 1}:)`);
  if (head >= numHeads)
    throw new Error(`unknown head "${text}": each layer has ${numHeads} heads (H0…H${numHeads - 1})`);
  return { layer, head };
}

export function formatHead(h: HeadRef): string {
  return `L${h.layer + 1}H${h.head}`;
}

export function parseHeadList(text: string | string[], depth: number, numHeads: number): HeadRef[] {
  const parts = Array.isArray(text)
    ? text
    : text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  return parts.map((p) => parseHead(p, depth, numHeads));
}

/** Head names grouped by layer: "L1H2", "L2H3", "L2H5" → {0: [2], 1: [3, 5]} (in the order given). */
export function headsByLayer(heads: string[], depth: number, numHeads: number): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const h of heads.map((s) => parseHead(s, depth, numHeads))) m.set(h.layer, [...(m.get(h.layer) ?? []), h.head]);
  return m;
}
