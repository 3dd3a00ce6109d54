/**
 * What a run is called in the UI: unique and descriptive — its title (the Rename command's `displayName`,
 * else the preset, else the config name), a compact clamp summary and a short id (the random tail of the
 * run folder's name) — so two `demo` runs with different clamps never read "demo" and "demo". Reads
 * run.json fields only; no runtime imports (the tree, the pickers and the webviews can all use it).
 */

/** A clamp as run.json stores it (the canonical form of src/engine/clamps/spec.ts). */
interface ClampLike {
  kind?: unknown;
  heads?: unknown;
  head?: unknown;
  strength?: unknown;
  temperature?: unknown;
  from?: unknown;
  until?: unknown;
  labelRowsOnly?: unknown;
  what?: unknown;
  sender?: unknown;
  receiver?: unknown;
  input?: unknown;
  with?: unknown;
  corruption?: unknown;
}

export interface RunNameInput {
  /** The run folder's name (run id). */
  id: string;
  displayName?: unknown;
  name?: unknown;
  preset?: unknown;
  clamps?: unknown;
  numHeads?: number;
}

export interface RunName {
  /** Rename's `displayName`, else the preset (without "@fast"), else the config name, else the id. */
  title: string;
  /** Compact clamps, e.g. "only L2H3 · IH L2H3 [0–60k)", or "no clamps". */
  clamps: string;
  /** 4 characters that tell runs of one title apart. */
  shortId: string;
  /** `title · clamps · #shortId` (the title alone + #id when renamed: the user chose the words). */
  full: string;
}

/** 32-bit FNV-1a, for ids that lack the random tail makeRunId gives them. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The random 4-hex tail of `2026-12-01T10-00-00-demo-3f9a`, else a hash of the id. */
export function shortRunId(id: string): string {
  const m = /-([0-9a-f]{4})$/.exec(id);
  return m ? m[1] : fnv(id).toString(16).padStart(8, '0').slice(-4);
}

/** 60000 → "60k", 1500000 → "1.5M", 1234 → "1234". */
export function compactCount(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}

const strs = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];

/** Heads of one layer, e.g. ["L2H0", …] → "L2" when they all sit in one layer. */
function oneLayer(heads: string[]): string | undefined {
  const layers = new Set(heads.map((h) => /^(L\d+)H\d+$/.exec(h)?.[1]));
  return layers.size === 1 ? [...layers][0] : undefined;
}

/**
 * A path clamp (issue 18) by its edge: "cut K L1H1→L2H3" (with = zero), "mean K L1H1→L2H3", "patch K
 * L1H1→L2H3 (prev-token)" (a corrupted sender), "stop-grad K L1H1→L2H3".
 */
export function pathClampName(c: ClampLike): string {
  const one = (v: unknown) => strs(v)[0] ?? '?';
  const edge = `${typeof c.input === 'string' ? c.input.toUpperCase() : '?'} ${one(c.sender)}→${one(c.receiver)}`;
  if (c.kind === 'stop-gradient') return `stop-grad ${edge}`;
  if (c.with === 'mean') return `mean ${edge}`;
  if (c.with === 'corrupt') return `patch ${edge} (${typeof c.corruption === 'string' ? c.corruption : 'corrupt'})`;
  return `cut ${edge}`;
}

/**
 * One clamp in a few characters: "only L2H3", "ablate L2H1,L2H2", "PT L1H2", "IH L2H3@0.8", "layer 1", "copy L2H3",
 * "cut K L1H1→L2H3".
 */
export function shortClamp(c: ClampLike, numHeads = 8): string {
  const heads = strs(c.heads);
  const list = heads.join(',');
  const at = (v: unknown, dflt: number) => (typeof v === 'number' && v !== dflt ? `@${v}` : '');
  let s: string;
  switch (c.kind) {
    case 'ablate': {
      const layer = oneLayer(heads);
      if (layer && heads.length === numHeads - 1) {
        const kept = Array.from({ length: numHeads }, (_, h) => `${layer}H${h}`).find((h) => !heads.includes(h));
        s = `only ${kept}`;
      } else if (layer && heads.length === numHeads) s = `no ${layer}`;
      else s = heads.length > 3 ? `ablate ${heads.length} heads` : `ablate ${list}`;
      break;
    }
    case 'prev-token':
      s = `PT ${list}${at(c.strength, 1)}${c.labelRowsOnly === true ? ' (labels)' : ''}`;
      break;
    case 'induction':
      s = `IH ${list}${at(c.strength, 1)}`;
      break;
    case 'match':
      s = `match ${list}${at(c.temperature, 0)}`;
      break;
    case 'layer1':
      s = 'layer 1';
      break;
    case 'copy':
      s = `copy ${strs(c.head).join(',') || list}`;
      break;
    case 'temperature':
      s = `T ${list}@${typeof c.temperature === 'number' ? c.temperature : '?'}`;
      break;
    case 'disallow-prev-token':
      s = `no-PT ${list}`;
      break;
    case 'silence-non-label':
      s = `silence ${list}`;
      break;
    case 'ablate-embedding':
      s = 'no embedding';
      break;
    case 'preserve':
      s = `preserve ${strs(c.what).join(',')}`;
      break;
    case 'graft-in':
      s = 'graft in';
      break;
    case 'graft-out':
      s = 'graft out';
      break;
    case 'path-patch':
    case 'stop-gradient':
      s = pathClampName(c);
      break;
    default:
      s = typeof c.kind === 'string' ? c.kind : 'clamp';
  }
  const from = typeof c.from === 'number' ? c.from : undefined,
    until = typeof c.until === 'number' ? c.until : undefined;
  if (from !== undefined || until !== undefined)
    s += ` [${compactCount(from ?? 0)}–${until === undefined ? '∞' : compactCount(until)})`;
  return s;
}

export function clampSummary(clamps: unknown, numHeads = 8): string {
  const list = Array.isArray(clamps) ? (clamps.filter((c) => c && typeof c === 'object') as ClampLike[]) : [];
  return list.length ? list.map((c) => shortClamp(c, numHeads)).join(' · ') : 'no clamps';
}

export function runName(r: RunNameInput): RunName {
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
  const renamed = str(r.displayName);
  const title =
    renamed ??
    str(r.preset)?.replace(/@(fast|paper)$/, (_, s: string) => (s === 'paper' ? ' (paper scale)' : '')) ??
    str(r.name) ??
    r.id;
  const clamps = clampSummary(r.clamps, r.numHeads);
  const shortId = shortRunId(r.id);
  return { title, clamps, shortId, full: renamed ? `${title} · #${shortId}` : `${title} · ${clamps} · #${shortId}` };
}
