/**
 * Clamps as data: what a run saves in run.json and what the CLI's --clamp flag parses into (spec §4).
 * Heads are stored canonically as "L2H3" (paper layer, 1-indexed; "1:3" is accepted on input). Each clamp
 * may carry an active window in sequences seen — active while from ≤ sequences < until — so a clamp can
 * be switched on or off mid-run.
 */
import { HeadRef, formatHead, parseHead, parseHeadList } from './heads';

export interface ClampWindow { from?: number; until?: number }
export type PreserveWhat = 'patterns' | 'values' | 'queries' | 'keys';

export type ClampSpec = ClampWindow & (
  /** §4.1 zero-ablate heads (their values are 0, so their output and upstream gradient vanish). */
  | { kind: 'ablate'; heads: string[] }
  /** §4.2 two-pass: copy these activations of every head from a clean pass (analysis-time use). */
  | { kind: 'preserve'; what: PreserveWhat[] }
  /** §4.3 previous-token pattern: P[0,0] = 1, P[i,i−1] = s, P[i,i] = 1 − s; all rows or label rows only. */
  | { kind: 'prev-token'; heads: string[]; strength: number; labelRowsOnly: boolean }
  /** §4.4 induction pattern at the query row: s on the matching label token, 1 − s on the other. */
  | { kind: 'induction'; heads: string[]; strength: number }
  /** §4.5 match heads: query row attends to label tokens by cosine similarity of raw exemplars (τ = 0: hard). */
  | { kind: 'match'; heads: string[]; temperature: number }
  /** §4.6 layer 1 ("perfect previous-token input"): three passes; Layer-1 parameters get no gradient. */
  | { kind: 'layer1' }
  /** §4.7 perfect copy: query logits = the head's pre-softmax scores at the two label keys (others −1e9). */
  | { kind: 'copy'; head: string }
  /** §4.8 two-pass: divide the heads' clean pre-softmax scores by T. */
  | { kind: 'temperature'; heads: string[]; temperature: number }
  /** §4.10 previous-token pre-softmax score set to −1e9 (all rows or label rows only). */
  | { kind: 'disallow-prev-token'; heads: string[]; labelRowsOnly: boolean }
  /** §4.10 last-layer heads: −1e9 pre-softmax at the query row on exemplar keys. */
  | { kind: 'silence-non-label'; heads: string[] }
  /** §4.10 zero the token embedding. */
  | { kind: 'ablate-embedding' }
  /** §4.9 clamp block `tillLayer`'s output to a frozen donor model's (e.g. a trained Layer 1). */
  | { kind: 'graft-in'; checkpoint: string; tillLayer: number }
  /** §4.9 feed this model's block `fromLayer` output into a donor's later layers; the donor's logits are the output. */
  | { kind: 'graft-out'; checkpoint: string; fromLayer: number }
);

export type ClampKind = ClampSpec['kind'];

/**
 * The reference's composition order (spec §3.4): clamps apply in this order whatever their list order.
 * layer1 comes before copy because the combined clamp reads the layer-1 pattern pass's scores.
 */
export const CLAMP_ORDER: ClampKind[] = [
  'preserve', 'temperature', 'layer1', 'copy', 'graft-in', 'ablate-embedding', 'ablate', 'prev-token', 'induction', 'match',
  'disallow-prev-token', 'silence-non-label', 'graft-out',
];
export const CLAMP_KINDS = CLAMP_ORDER;

/** Kinds whose definition needs exactly two context pairs (positions 1 and 3 are the label tokens). */
const NEEDS_TWO_PAIRS = new Set<ClampKind>(['induction', 'match', 'layer1', 'copy', 'silence-non-label']);

export function isActive(c: ClampWindow, sequences: number): boolean {
  return (c.from === undefined || sequences >= c.from) && (c.until === undefined || sequences < c.until);
}

export interface ModelShape { depth: number; numHeads: number; contextLen: number }

/** Validates and canonicalises a clamp list, throwing a clear error naming the problem. */
export function normalizeClamps(raw: unknown, m: ModelShape): ClampSpec[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new Error('clamps must be a list');
  const out = raw.map((r, i) => normalizeOne(r, `clamps[${i}]`, m));
  checkConsistency(out, m);
  return out;
}

function normalizeOne(r: unknown, where: string, m: ModelShape): ClampSpec {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error(`${where} must be an object with a "kind"`);
  const o = r as Record<string, unknown>;
  const win: ClampWindow = {};
  for (const k of ['from', 'until'] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || (o[k] as number) < 0) throw new Error(`${where}.${k} must be a whole number of sequences ≥ 0`);
    win[k] = o[k] as number;
  }
  if (win.from !== undefined && win.until !== undefined && win.until <= win.from) throw new Error(`${where}: until (${win.until}) must be after from (${win.from})`);
  const allowed = (keys: string[]) => {
    for (const k of Object.keys(o)) if (!['kind', 'from', 'until', ...keys].includes(k)) throw new Error(`${where}: unknown field "${k}" for a ${String(o.kind)} clamp (fields: ${keys.join(', ') || 'none'}, from, until)`);
  };
  const heads = (key = 'heads'): string[] => {
    const v = o[key];
    if (!Array.isArray(v) && typeof v !== 'string') throw new Error(`${where}.${key} must be a list of heads like ["L2H3"]`);
    const hs = parseHeadList(v as string[] | string, m.depth, m.numHeads);
    if (hs.length === 0) throw new Error(`${where}.${key} is empty`);
    return [...new Set(hs.map(formatHead))];
  };
  const num = (key: string, dflt: number | undefined, lo: number, hi: number): number => {
    const v = o[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new Error(`${where}.${key} must be a number in [${lo}, ${hi}], got ${JSON.stringify(o[key])}`);
    return v;
  };
  const bool = (key: string): boolean => {
    if (o[key] === undefined) return false;
    if (typeof o[key] !== 'boolean') throw new Error(`${where}.${key} must be true or false`);
    return o[key] as boolean;
  };
  const str = (key: string): string => {
    if (typeof o[key] !== 'string' || o[key] === '') throw new Error(`${where}.${key} must be a path`);
    return o[key] as string;
  };
  const layer = (key: string): number => {
    const v = o[key];
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= m.depth) throw new Error(`${where}.${key} must be a block index in [0, ${m.depth - 1}] (0 = Layer 1), got ${JSON.stringify(v)}`);
    return v as number;
  };
  const onlyLayer = (hs: string[], l: number, what: string) => {
    for (const h of hs) if (parseHead(h, m.depth, m.numHeads).layer !== l) throw new Error(`${where}: ${what} clamps apply to Layer ${l + 1} heads, got ${h}`);
    return hs;
  };
  let spec: ClampSpec;
  switch (o.kind) {
    case 'ablate': allowed(['heads']); spec = { kind: 'ablate', heads: heads() }; break;
    case 'preserve': {
      allowed(['what']);
      const w = o.what;
      const all: PreserveWhat[] = ['patterns', 'values', 'queries', 'keys'];
      if (!Array.isArray(w) || w.length === 0 || w.some((x) => !all.includes(x))) throw new Error(`${where}.what must list some of ${all.join(', ')}`);
      spec = { kind: 'preserve', what: all.filter((x) => w.includes(x)) };
      break;
    }
    case 'prev-token': allowed(['heads', 'strength', 'labelRowsOnly']); spec = { kind: 'prev-token', heads: heads(), strength: num('strength', 1, 0, 1), labelRowsOnly: bool('labelRowsOnly') }; break;
    case 'induction': allowed(['heads', 'strength']); spec = { kind: 'induction', heads: heads(), strength: num('strength', 1, 0, 1) }; break;
    case 'match': allowed(['heads', 'temperature']); spec = { kind: 'match', heads: heads(), temperature: num('temperature', 0, 0, 1e6) }; break;
    case 'layer1': allowed([]); spec = { kind: 'layer1' }; break;
    case 'copy': {
      allowed(['head']);
      const hs = heads('head');
      if (hs.length !== 1) throw new Error(`${where}.head must be a single head, got ${hs.join(',')}`);
      spec = { kind: 'copy', head: hs[0] };
      break;
    }
    case 'temperature': allowed(['heads', 'temperature']); spec = { kind: 'temperature', heads: heads(), temperature: num('temperature', undefined, 1e-6, 1e6) }; break;
    case 'disallow-prev-token': allowed(['heads', 'labelRowsOnly']); spec = { kind: 'disallow-prev-token', heads: heads(), labelRowsOnly: bool('labelRowsOnly') }; break;
    case 'silence-non-label': allowed(['heads']); spec = { kind: 'silence-non-label', heads: onlyLayer(heads(), m.depth - 1, 'silence-non-label') }; break;
    case 'ablate-embedding': allowed([]); spec = { kind: 'ablate-embedding' }; break;
    case 'graft-in': allowed(['checkpoint', 'tillLayer']); spec = { kind: 'graft-in', checkpoint: str('checkpoint'), tillLayer: layer('tillLayer') }; break;
    case 'graft-out': allowed(['checkpoint', 'fromLayer']); spec = { kind: 'graft-out', checkpoint: str('checkpoint'), fromLayer: layer('fromLayer') }; break;
    default: throw new Error(`${where}: unknown clamp kind ${JSON.stringify(o.kind)} (known: ${CLAMP_KINDS.join(', ')})`);
  }
  if (NEEDS_TWO_PAIRS.has(spec.kind) && m.contextLen !== 2) throw new Error(`${where}: the ${spec.kind} clamp is defined for 2 context pairs (5 tokens); this model has contextLen ${m.contextLen}`);
  return { ...spec, ...win };
}

/** Cross-clamp rules checked up front, like the reference's option parser. */
function checkConsistency(list: ClampSpec[], m: ModelShape): void {
  const pt = new Set(list.flatMap((c) => (c.kind === 'prev-token' ? c.heads : [])));
  for (const c of list) if (c.kind === 'induction') for (const h of c.heads) {
    if (pt.has(h)) throw new Error(`head ${h} cannot be both a previous-token and an induction head`);
  }
  if (list.some((c) => c.kind === 'layer1')) {
    if (m.depth !== 2) throw new Error(`the layer1 clamp needs a two-layer model; this one has ${m.depth} layers`);
    for (const c of list) if (c.kind === 'ablate') for (const h of c.heads) {
      if (parseHead(h, m.depth, m.numHeads).layer !== 1) throw new Error(`with the layer1 clamp only Layer 2 heads can be ablated (Layer 1 is replaced), got ${h}`);
    }
  }
  checkPatternOnAblated(list);
  if (list.filter((c) => c.kind === 'copy').length > 1) throw new Error('at most one perfect-copy clamp per run');
  if (list.filter((c) => c.kind === 'layer1').length > 1) throw new Error('at most one layer1 clamp per run');
}

/** Clamps that set or reshape a head's attention pattern: a no-op on a head whose values are zero-ablated. */
export const PATTERN_KINDS = new Set<ClampKind>([
  'prev-token', 'induction', 'match', 'temperature', 'disallow-prev-token', 'silence-non-label', 'copy',
]);

/** The heads a clamp names ("copy" holds one `head`, the others `heads`). */
export function clampHeads(c: ClampSpec): string[] {
  return c.kind === 'copy' ? [c.head] : 'heads' in c ? c.heads : [];
}

/** Whether two active windows [from, until) share a sequence count. */
export function windowsOverlap(a: ClampWindow, b: ClampWindow): boolean {
  return Math.max(a.from ?? 0, b.from ?? 0) < Math.min(a.until ?? Infinity, b.until ?? Infinity);
}

/**
 * A pattern clamp on a head that the same run zero-ablates while the pattern clamp is active does nothing
 * (the head's output is 0 whatever its pattern) while the researcher believes it is clamped: refused.
 */
function checkPatternOnAblated(list: ClampSpec[]): void {
  for (const p of list) {
    if (!PATTERN_KINDS.has(p.kind)) continue;
    for (const a of list) {
      if (a.kind !== 'ablate' || !windowsOverlap(a, p)) continue;
      const h = clampHeads(p).find((x) => a.heads.includes(x));
      if (h) {
        throw new Error(`head ${h} is zero-ablated by "${describeClamp(a)}", so "${describeClamp(p)}" would clamp a head `
          + 'whose output is 0 (it would change nothing): clamp another head or drop it from the ablation');
      }
    }
  }
}

/**
 * Combinations that are allowed but are probably not what was meant: one line each, shown by the start
 * flow and printed by the trainer as warnings.
 */
export function clampWarnings(list: ClampSpec[], m: ModelShape): string[] {
  const out: string[] = [];
  for (const c of list) {
    if (c.kind !== 'induction' && c.kind !== 'match') continue;
    const first = c.heads.filter((h) => parseHead(h, m.depth, m.numHeads).layer === 0);
    if (first.length && m.depth > 1) {
      out.push(`"${describeClamp(c)}" sets an induction pattern on first-layer head${first.length > 1 ? 's' : ''} `
        + `${first.join(', ')}: an induction head reads Layer 1's previous-token output, so it lives in Layer ${m.depth}`);
    }
  }
  return out;
}

/**
 * The CLI's short form: `KIND[:ITEM,ITEM…]` where an item is a head (`L2H3` or `1:3`, optionally `@VALUE`
 * for strength or temperature), or `key=value` (from, until, strength, temperature, rows=labels,
 * checkpoint, till, from-layer). Examples: `ablate:L2H1,L2H2`, `prev-token:L1H2@0.9`, `induction:L2H3`,
 * `layer1`, `copy:L2H3`, `ablate:L2H1,from=32000,until=64000`, `graft-in:run/checkpoints/seq-1000000.safetensors,till=0`.
 */
export function parseClampFlag(text: string, m: ModelShape): ClampSpec {
  const t = text.trim();
  const colon = t.indexOf(':');
  const kind = colon < 0 ? t : t.slice(0, colon);
  const rest = colon < 0 ? '' : t.slice(colon + 1);
  const o: Record<string, unknown> = { kind };
  const heads: string[] = [];
  let value: number | undefined;
  // A head "1:3" contains a colon too; split items on commas only.
  for (const item of rest.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq > 0) {
      const k = item.slice(0, eq), v = item.slice(eq + 1);
      const numeric = () => { if (!/^-?\d+(\.\d+)?(e-?\d+)?$/.test(v)) throw new Error(`clamp "${text}": ${k} needs a number, got "${v}"`); return Number(v); };
      switch (k) {
        case 'from': case 'until': o[k] = numeric(); break;
        case 'strength': case 'temperature': value = numeric(); break;
        case 'rows': if (v !== 'labels') throw new Error(`clamp "${text}": rows=labels is the only rows option`); o.labelRowsOnly = true; break;
        case 'checkpoint': o.checkpoint = v; break;
        case 'till': o.tillLayer = numeric(); break;
        case 'from-layer': o.fromLayer = numeric(); break;
        default: throw new Error(`clamp "${text}": unknown option "${k}" (from, until, strength, temperature, rows, checkpoint, till, from-layer)`);
      }
    } else if (kind === 'preserve') {
      o.what = [...((o.what as string[]) ?? []), item];
    } else if (kind === 'graft-in' || kind === 'graft-out') {
      o.checkpoint = item;
    } else {
      const [h, v] = item.split('@');
      heads.push(h);
      // A number out of range ("@-1") is left to the range check, which names the field and its range.
      if (v !== undefined) { if (v.trim() === '' || !Number.isFinite(Number(v))) throw new Error(`clamp "${text}": "@${v}" must be a number`); value = Number(v); }
    }
  }
  if (heads.length) { if (kind === 'copy') o.head = heads; else o.heads = heads; }
  if (value !== undefined) { if (kind === 'match' || kind === 'temperature') o.temperature = value; else o.strength = value; }
  if (kind === 'graft-in' && o.tillLayer === undefined) o.tillLayer = 0;
  if (kind === 'graft-out' && o.fromLayer === undefined) o.fromLayer = 0;
  return normalizeClamps([o], m)[0];
}

export function headRefs(hs: string[], m: ModelShape): HeadRef[] { return hs.map((h) => parseHead(h, m.depth, m.numHeads)); }

/** A one-line human description, e.g. "prev-token L1H2 (s = 0.9, label rows) [0, 64k)". */
export function describeClamp(c: ClampSpec): string {
  const win = c.from !== undefined || c.until !== undefined ? ` [${c.from ?? 0}, ${c.until ?? '∞'})` : '';
  switch (c.kind) {
    case 'ablate': return `ablate ${c.heads.join(',')}${win}`;
    case 'preserve': return `preserve ${c.what.join(', ')}${win}`;
    case 'prev-token': return `prev-token ${c.heads.join(',')} (s = ${c.strength}${c.labelRowsOnly ? ', label rows' : ''})${win}`;
    case 'induction': return `induction ${c.heads.join(',')} (s = ${c.strength})${win}`;
    case 'match': return `match ${c.heads.join(',')} (τ = ${c.temperature})${win}`;
    case 'layer1': return `layer1${win}`;
    case 'copy': return `copy from ${c.head}${win}`;
    case 'temperature': return `temperature ${c.heads.join(',')} (T = ${c.temperature})${win}`;
    case 'disallow-prev-token': return `disallow-prev-token ${c.heads.join(',')}${c.labelRowsOnly ? ' (label rows)' : ''}${win}`;
    case 'silence-non-label': return `silence-non-label ${c.heads.join(',')}${win}`;
    case 'ablate-embedding': return `ablate-embedding${win}`;
    case 'graft-in': return `graft-in blocks ≤ ${c.tillLayer} from ${c.checkpoint}${win}`;
    case 'graft-out': return `graft-out after block ${c.fromLayer} into ${c.checkpoint}${win}`;
  }
}
