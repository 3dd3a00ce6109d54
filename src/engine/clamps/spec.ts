/**
 * Clamps as data: what a run saves in run.json and what the CLI's --clamp flag parses into. Heads are
 * stored canonically as "L2H3" (paper layer, 1-indexed). Each clamp may carry an active window in
 * sequences seen: active while from ≤ sequences < until.
 */
import { HeadRef, formatHead, parseHeadList } from './heads';

export interface ClampWindow { from?: number; until?: number }

export type ClampSpec =
  /** Zero-ablate heads: their values are set to 0, so their output and upstream gradient vanish (§4.1). */
  | ({ kind: 'ablate'; heads: string[] } & ClampWindow);

export type ClampKind = ClampSpec['kind'];
export const CLAMP_KINDS: ClampKind[] = ['ablate'];

export function isActive(c: ClampWindow, sequences: number): boolean {
  return (c.from === undefined || sequences >= c.from) && (c.until === undefined || sequences < c.until);
}

/** Validates and canonicalises a clamp list (heads to "L2H3"), throwing a clear error naming the problem. */
export function normalizeClamps(raw: unknown, depth: number, numHeads: number): ClampSpec[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new Error('clamps must be a list');
  return raw.map((r, i) => {
    const where = `clamps[${i}]`;
    if (typeof r !== 'object' || r === null) throw new Error(`${where} must be an object with a "kind"`);
    const o = r as Record<string, unknown>;
    const win: ClampWindow = {};
    for (const k of ['from', 'until'] as const) {
      if (o[k] === undefined) continue;
      if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || (o[k] as number) < 0) throw new Error(`${where}.${k} must be a whole number of sequences ≥ 0`);
      win[k] = o[k] as number;
    }
    if (win.from !== undefined && win.until !== undefined && win.until <= win.from) throw new Error(`${where}: until (${win.until}) must be after from (${win.from})`);
    const heads = (): HeadRef[] => {
      if (!Array.isArray(o.heads) && typeof o.heads !== 'string') throw new Error(`${where}.heads must be a list of heads like ["L2H3"]`);
      const hs = parseHeadList(o.heads as string[] | string, depth, numHeads);
      if (hs.length === 0) throw new Error(`${where}.heads is empty`);
      return hs;
    };
    switch (o.kind) {
      case 'ablate': return { kind: 'ablate', heads: heads().map(formatHead), ...win };
      default: throw new Error(`${where}: unknown clamp kind ${JSON.stringify(o.kind)} (known: ${CLAMP_KINDS.join(', ')})`);
    }
  });
}

/** Short form used by the CLI: `ablate:L2H1,L2H2[@from=SEQ][,until=SEQ]`. */
export function parseClampFlag(text: string, depth: number, numHeads: number): ClampSpec {
  const m = /^([a-z0-9-]+)(?::([^@]*))?(?:@(.*))?$/i.exec(text.trim());
  if (!m) throw new Error(`cannot read clamp "${text}"`);
  const [, kind, arg, opts] = m;
  const o: Record<string, unknown> = { kind };
  if (arg !== undefined) o.heads = arg.split(',').map((s) => s.trim()).filter(Boolean);
  for (const kv of (opts ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (k !== 'from' && k !== 'until') throw new Error(`clamp "${text}": unknown option "${k}" (use from=SEQ, until=SEQ)`);
    if (!/^\d+$/.test(v ?? '')) throw new Error(`clamp "${text}": ${k} needs a whole number of sequences`);
    o[k] = Number(v);
  }
  return normalizeClamps([o], depth, numHeads)[0];
}
