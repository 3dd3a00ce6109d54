/**
 * Clamps as data: what a run saves in run.json and what the CLI's --clamp flag parses into (spec §4).
 * Heads are stored canonically as "L2H3" (paper layer, 1-indexed; "1:3" is accepted on input). Each clamp
 * may carry an active window in sequences seen — active while from ≤ sequences < until — so a clamp can
 * be switched on or off mid-run.
 */
import { formatHead, parseHead, parseHeadList } from './heads';
import { CLAMP_KIND_DEFS, CLAMP_ORDER, ClampKind, ClampSpec, ClampWindow, defOf } from './kinds';
import type { FieldReader, ModelShape } from './kindDef';

export type { ClampWindow, PreserveWhat, ClampSpec, ClampKind } from './kinds';
export type { ModelShape } from './kindDef';
export { CLAMP_ORDER } from './kinds';
export const CLAMP_KINDS = CLAMP_ORDER;

export function isActive(c: ClampWindow, sequences: number): boolean {
  return (c.from === undefined || sequences >= c.from) && (c.until === undefined || sequences < c.until);
}

/** Validates and canonicalises a clamp list, throwing a clear error naming the problem. */
export function normalizeClamps(raw: unknown, m: ModelShape): ClampSpec[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new Error('clamps must be a list');
  const out = raw.map((r, i) => normalizeOne(r, `clamps[${i}]`, m));
  checkConsistency(out, m);
  return out;
}

/** The field reader a kind's `parse` validates its JSON fields with (errors name `where.field`). */
function fieldReader(o: Record<string, unknown>, where: string, m: ModelShape): FieldReader {
  const fail = (msg: string): never => {
    throw new Error(`${where}${msg}`);
  };
  const r: FieldReader = {
    model: m,
    fail,
    raw: (key) => o[key],
    heads: (key = 'heads') => {
      const v = o[key];
      if (!Array.isArray(v) && typeof v !== 'string') fail(`.${key} must be a list of heads like ["L2H3"]`);
      const hs = parseHeadList(v as string[] | string, m.depth, m.numHeads);
      if (hs.length === 0) fail(`.${key} is empty`);
      return [...new Set(hs.map(formatHead))];
    },
    num: (key, dflt, lo, hi) => {
      const v = o[key] ?? dflt;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi)
        fail(`.${key} must be a number in [${lo}, ${hi}], got ${JSON.stringify(o[key])}`);
      return v as number;
    },
    bool: (key) => {
      if (o[key] === undefined) return false;
      if (typeof o[key] !== 'boolean') fail(`.${key} must be true or false`);
      return o[key] as boolean;
    },
    path: (key) => {
      if (typeof o[key] !== 'string' || o[key] === '') fail(`.${key} must be a path`);
      return o[key] as string;
    },
    layer: (key) => {
      const v = o[key];
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= m.depth)
        fail(`.${key} must be a block index in [0, ${m.depth - 1}] (0 = Layer 1), got ${JSON.stringify(v)}`);
      return v as number;
    },
    onlyLayer: (hs, l, what) => {
      for (const h of hs)
        if (parseHead(h, m.depth, m.numHeads).layer !== l)
          fail(`: ${what} clamps apply to Layer ${l + 1} heads, got ${h}`);
      return hs;
    },
  };
  return r;
}

function normalizeOne(r: unknown, where: string, m: ModelShape): ClampSpec {
  if (typeof r !== 'object' || r === null || Array.isArray(r))
    throw new Error(`${where} must be an object with a "kind"`);
  const o = r as Record<string, unknown>;
  const win: ClampWindow = {};
  for (const k of ['from', 'until'] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== 'number' || !Number.isInteger(o[k]) || (o[k] as number) < 0)
      throw new Error(`${where}.${k} must be a whole number of sequences ≥ 0`);
    win[k] = o[k] as number;
  }
  if (win.from !== undefined && win.until !== undefined && win.until <= win.from)
    throw new Error(`${where}: until (${win.until}) must be after from (${win.from})`);
  if (!CLAMP_ORDER.includes(o.kind as ClampKind))
    throw new Error(`${where}: unknown clamp kind ${JSON.stringify(o.kind)} (known: ${CLAMP_KINDS.join(', ')})`);
  const d = defOf(o.kind as ClampKind);
  for (const k of Object.keys(o)) {
    if (!['kind', 'from', 'until', ...d.fields].includes(k))
      throw new Error(
        `${where}: unknown field "${k}" for a ${String(o.kind)} clamp (fields: ${d.fields.join(', ') || 'none'}, from, until)`,
      );
  }
  const spec = d.parse(fieldReader(o, where, m));
  if (d.twoPairs && m.contextLen !== 2)
    throw new Error(
      `${where}: the ${spec.kind} clamp is defined for 2 context pairs (5 tokens); this model has contextLen ${m.contextLen}`,
    );
  return { ...spec, ...win };
}

/** Cross-clamp rules checked up front, like the reference's option parser. */
function checkConsistency(list: ClampSpec[], m: ModelShape): void {
  const pt = new Set(list.flatMap((c) => (c.kind === 'prev-token' ? c.heads : [])));
  for (const c of list)
    if (c.kind === 'induction')
      for (const h of c.heads) {
        if (pt.has(h)) throw new Error(`head ${h} cannot be both a previous-token and an induction head`);
      }
  if (list.some((c) => c.kind === 'layer1')) {
    if (m.depth !== 2) throw new Error(`the layer1 clamp needs a two-layer model; this one has ${m.depth} layers`);
    for (const c of list)
      if (c.kind === 'ablate')
        for (const h of c.heads) {
          if (parseHead(h, m.depth, m.numHeads).layer !== 1)
            throw new Error(`with the layer1 clamp only Layer 2 heads can be ablated (Layer 1 is replaced), got ${h}`);
        }
  }
  checkPatternOnAblated(list);
  checkPathsOnAblated(list);
  if (list.filter((c) => c.kind === 'copy').length > 1) throw new Error('at most one perfect-copy clamp per run');
  if (list.filter((c) => c.kind === 'layer1').length > 1) throw new Error('at most one layer1 clamp per run');
}

/** Clamps that set or reshape a head's attention pattern: a no-op on a head whose values are zero-ablated (kinds.ts). */
export const PATTERN_KINDS = new Set<ClampKind>(
  CLAMP_KIND_DEFS.filter((d) => 'headPattern' in d && d.headPattern).map((d) => d.kind),
);

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
        throw new Error(
          `head ${h} is zero-ablated by "${describeClamp(a)}", so "${describeClamp(p)}" would clamp a head ` +
            'whose output is 0 (it would change nothing): clamp another head or drop it from the ablation',
        );
      }
    }
  }
}

/** A path clamp on an edge whose sender or receiver the run zero-ablates meanwhile would change nothing: refused. */
function checkPathsOnAblated(list: ClampSpec[]): void {
  for (const p of list) {
    if (p.kind !== 'path-patch' && p.kind !== 'stop-gradient') continue;
    for (const a of list) {
      if (a.kind !== 'ablate' || !windowsOverlap(a, p)) continue;
      const h = [p.sender, p.receiver].find((x) => a.heads.includes(x));
      if (h) {
        throw new Error(
          `head ${h} is zero-ablated by "${describeClamp(a)}", so "${describeClamp(p)}" would act on an edge ` +
            'that carries nothing (it would change nothing): choose another edge or drop the head from the ablation',
        );
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
      out.push(
        `"${describeClamp(c)}" sets an induction pattern on first-layer head${first.length > 1 ? 's' : ''} ` +
          `${first.join(', ')}: an induction head reads Layer 1's previous-token output, so it lives in Layer ${m.depth}`,
      );
    }
  }
  return out;
}

/**
 * The CLI's short form: `KIND[:ITEM,ITEM…]` where an item is what the kind lists (clamps/kinds.ts: heads
 * `L2H3` or `1:3`, optionally `@VALUE` for strength or temperature; preserved activations; a checkpoint),
 * or `key=value` (from, until, strength, temperature, rows=labels, checkpoint, till, from-layer).
 * Examples: `ablate:L2H1,L2H2`, `prev-token:L1H2@0.9`, `induction:L2H3`, `layer1`, `copy:L2H3`,
 * `ablate:L2H1,from=32000,until=64000`, `graft-in:run/checkpoints/seq-1000000.safetensors,till=0`.
 */
export function parseClampFlag(text: string, m: ModelShape): ClampSpec {
  const t = text.trim();
  const colon = t.indexOf(':');
  const kind = colon < 0 ? t : t.slice(0, colon);
  const rest = colon < 0 ? '' : t.slice(colon + 1);
  const d = CLAMP_KIND_DEFS.find((x) => x.kind === kind);
  const o: Record<string, unknown> = { kind, ...(d?.shortDefaults ?? {}) };
  const items: string[] = [];
  let value: number | undefined;
  // A head "1:3" contains a colon too; split items on commas only.
  for (const item of rest
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq > 0) {
      const k = item.slice(0, eq),
        v = item.slice(eq + 1);
      const numeric = () => {
        if (!/^-?\d+(\.\d+)?(e-?\d+)?$/.test(v)) throw new Error(`clamp "${text}": ${k} needs a number, got "${v}"`);
        return Number(v);
      };
      switch (k) {
        case 'from':
        case 'until':
          o[k] = numeric();
          break;
        case 'strength':
        case 'temperature':
          value = numeric();
          break;
        case 'rows':
          if (v !== 'labels') throw new Error(`clamp "${text}": rows=labels is the only rows option`);
          o.labelRowsOnly = true;
          break;
        case 'checkpoint':
          o.checkpoint = v;
          break;
        case 'till':
          o.tillLayer = numeric();
          break;
        case 'from-layer':
          o.fromLayer = numeric();
          break;
        case 'input':
        case 'with':
        case 'corruption':
          o[k] = v;
          break;
        default:
          throw new Error(
            `clamp "${text}": unknown option "${k}" (from, until, strength, temperature, rows, ` +
              'checkpoint, till, from-layer, input, with, corruption)',
          );
      }
    } else if (d?.items === 'what') o.what = [...((o.what as string[]) ?? []), item];
    else if (d?.items === 'checkpoint') o.checkpoint = item;
    else if (d?.items === 'edge') {
      // An edge "SENDER>RECEIVER", e.g. L1H2>L2H3 (or 0:2>1:3).
      const [s, r, extra] = item.split('>').map((x) => x.trim());
      if (!s || !r || extra !== undefined)
        throw new Error(`clamp "${text}": an edge is SENDER>RECEIVER, e.g. L1H2>L2H3, got "${item}"`);
      o.sender = [s];
      o.receiver = [r];
    } else {
      const [h, v] = item.split('@');
      items.push(h);
      // A number out of range ("@-1") is left to the range check, which names the field and its range.
      if (v !== undefined) {
        if (v.trim() === '' || !Number.isFinite(Number(v)))
          throw new Error(`clamp "${text}": "@${v}" must be a number`);
        value = Number(v);
      }
    }
  }
  if (items.length) {
    if (d?.items === 'head') o.head = items;
    else o.heads = items;
  }
  if (value !== undefined) o[d?.value ?? 'strength'] = value;
  return normalizeClamps([o], m)[0];
}

/** A one-line human description, e.g. "prev-token L1H2 (s = 0.9, label rows) [0, 64k)". */
export function describeClamp(c: ClampSpec): string {
  const win = c.from !== undefined || c.until !== undefined ? ` [${c.from ?? 0}, ${c.until ?? '∞'})` : '';
  return defOf(c).describe(c) + win;
}
