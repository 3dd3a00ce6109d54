/**
 * What the run's clamps (spec §4) do to each head, for marking them in the views: ablated heads
 * (§4.1, values zeroed: hatched/grey), heads whose pattern or scores a clamp sets (§4.3–4.5, 4.7, 4.8,
 * 4.10: outlined), and Layer-1 heads replaced under the layer-1 clamp (§4.6) or a graft (§4.9).
 * Also the split of clamps into whole-run ones (a badge: they carry no time information) and windowed
 * ones (shaded bands). Pure module (no DOM), unit-tested.
 */
import type { ClampSummary } from '../../shared/webviewProtocol';
import type { Band } from './domains';
import { pathClampName } from '../../shared/runName';
import { HEAD_PATTERN_KINDS } from '../../shared/headMarks';

export type HeadState = 'ablated' | 'clamped' | 'replaced';
export interface HeadMark {
  state: HeadState;
  /** Descriptions of the clamps acting on the head. */ clamps: string[];
}

const RANK: Record<HeadState, number> = { ablated: 3, replaced: 2, clamped: 1 };

const fmtSeq = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The window of a clamp as text: "" for a whole-run clamp, else "[from, until)". */
export function clampWindow(c: ClampSummary): string {
  if (c.from === undefined && c.until === undefined) return '';
  return `[${fmtSeq(c.from ?? 0)}, ${c.until === undefined ? 'end' : fmtSeq(c.until)})`;
}

/** Heads a clamp names ("L2H3"), whichever field holds them (`copy` stores one `head`). */
export function clampHeads(c: ClampSummary): string[] {
  return [...(c.heads ?? []), ...(typeof c.head === 'string' ? [c.head] : [])];
}

/** A clamp as a short phrase, e.g. "induction L2H3 (s = 1)", "copy from L2H3", "layer1 (Layer 1 replaced)". */
export function describeClamp(c: ClampSummary): string {
  const heads = clampHeads(c).join(', ');
  const param =
    c.strength !== undefined
      ? ` (s = ${c.strength})`
      : c.temperature !== undefined
        ? ` (${c.kind === 'match' ? 'τ' : 'T'} = ${c.temperature})`
        : '';
  switch (c.kind) {
    case 'copy':
      return `copy from ${heads}`;
    case 'layer1':
      return 'layer1 (Layer 1 replaced)';
    case 'graft-in':
      return `graft-in blocks ≤ ${c.tillLayer ?? 0}`;
    case 'graft-out':
      return `graft-out after block ${c.fromLayer ?? 0}`;
    case 'path-patch':
    case 'stop-gradient':
      return pathClampName(c);
    default:
      return heads ? `${c.kind} ${heads}${param}` : `${c.kind}${param}`;
  }
}

/**
 * A clamp in few words for narrow headers: an ablation of most of a layer reads "ablate Layer 2 but
 * L2H3", of many heads "ablate 5 heads"; everything else as describeClamp (with its window).
 */
export function shortClamp(c: ClampSummary, heads = 8): string {
  const win = clampWindow(c) ? ` ${clampWindow(c)}` : '';
  const hs = clampHeads(c);
  if (c.kind !== 'ablate' || hs.length <= 3) return `${describeClamp(c)}${win}`;
  const layers = [...new Set(hs.map((h) => /^L(\d+)H/.exec(h)?.[1]))];
  if (layers.length === 1 && layers[0]) {
    const rest = Array.from({ length: heads }, (_, i) => `L${layers[0]}H${i}`).filter((h) => !hs.includes(h));
    if (rest.length === 0) return `ablate all of Layer ${layers[0]}${win}`;
    if (rest.length <= 2) return `ablate Layer ${layers[0]} but ${rest.join(', ')}${win}`;
  }
  return `ablate ${hs.length} heads${win}`;
}

/**
 * The clamps in a file name: "induction-L2H3_ablate7" (kind, then its heads or, past two, their count); a
 * path clamp by its edge, "path-patch-L1H1-L2H3-k".
 */
export function clampSlug(clamps: readonly ClampSummary[]): string {
  return clamps
    .map((c) => {
      if (c.kind === 'path-patch' || c.kind === 'stop-gradient') {
        return [c.kind, c.sender ?? '', c.receiver ?? '', c.input ?? ''].filter(Boolean).join('-');
      }
      const hs = clampHeads(c);
      return hs.length > 2 ? `${c.kind}${hs.length}` : [c.kind, ...hs].join('-');
    })
    .join('_');
}

/** Active at `sequences` (from ≤ sequences < until); null asks "at any time of the run". */
export function clampActive(c: ClampSummary, sequences: number | null): boolean {
  if (sequences === null) return true;
  return (c.from === undefined || sequences >= c.from) && (c.until === undefined || sequences < c.until);
}

/** Whole-run: no window, or one covering [0, totalSequences). */
export function isWholeRun(c: ClampSummary, totalSequences = Infinity): boolean {
  return (c.from === undefined || c.from <= 0) && (c.until === undefined || c.until >= totalSequences);
}

/**
 * Marks of every affected head ("L1H2" → mark) at `sequences` (null: at any time of the run).
 * `heads` is the number of heads per layer (Layer-1 heads under the layer-1 clamp are all replaced).
 * A head several clamps touch gets the strongest state (ablated > replaced > clamped) and lists them all.
 */
export function headMarks(clamps: readonly ClampSummary[], sequences: number | null, heads = 8): Map<string, HeadMark> {
  const out = new Map<string, HeadMark>();
  const add = (head: string, state: HeadState, what: string) => {
    const m = out.get(head);
    if (!m) out.set(head, { state, clamps: [what] });
    else {
      if (RANK[state] > RANK[m.state]) m.state = state;
      if (!m.clamps.includes(what)) m.clamps.push(what);
    }
  };
  for (const c of clamps) {
    if (!clampActive(c, sequences)) continue;
    const what = `${describeClamp(c)}${clampWindow(c) ? ` ${clampWindow(c)}` : ''}`;
    if (c.kind === 'ablate') for (const h of clampHeads(c)) add(h, 'ablated', what);
    else if (HEAD_PATTERN_KINDS.has(c.kind)) for (const h of clampHeads(c)) add(h, 'clamped', what);
    else if (c.kind === 'layer1') for (let h = 0; h < heads; h++) add(`L1H${h}`, 'replaced', what);
    else if (c.kind === 'graft-in') {
      for (let l = 1; l <= (c.tillLayer ?? 0) + 1; l++) {
        for (let h = 0; h < heads; h++) add(`L${l}H${h}`, 'replaced', what);
      }
    }
  }
  return out;
}

/** Word for a mark in labels and tooltips. */
export const MARK_WORD: Record<HeadState, string> = { ablated: 'ablated', clamped: 'clamped', replaced: 'replaced' };

/**
 * The strongest induction head among the Layer-2 heads no clamp touches at that step (a clamped head
 * is "strong" because the clamp says so); null when every head is marked or there are no scores.
 */
export function strongestFreeHead(
  is: readonly number[],
  marks: Map<string, HeadMark>,
): { head: number; value: number } | null {
  let best: { head: number; value: number } | null = null;
  is.forEach((v, h) => {
    if (!Number.isFinite(v) || marks.has(`L2H${h}`)) return;
    if (!best || v > best.value) best = { head: h, value: v };
  });
  return best;
}

/** Whole-run clamps, described (for a badge or legend note). */
export function wholeRunClamps(clamps: readonly ClampSummary[], totalSequences = Infinity): string[] {
  return clamps.filter((c) => isWholeRun(c, totalSequences)).map(describeClamp);
}

/** Windowed clamps as shaded bands on a sequences axis (whole-run clamps get no band). */
export function clampBands(clamps: readonly ClampSummary[], xMax: number): Band[] {
  return clamps.flatMap((c, i) => {
    if (isWholeRun(c, xMax)) return [];
    const x0 = Math.max(0, c.from ?? 0),
      x1 = Math.min(xMax, c.until ?? xMax);
    return x1 > x0 ? [{ id: `clamp${i}`, x0, x1, label: `${describeClamp(c)} ${clampWindow(c)}` }] : [];
  });
}

/**
 * Where a run was stopped and resumed: the trainer restarts its wall clock on resume, so a row whose
 * wallTime is below the previous row's starts a resumed segment. Returns the sequences of those rows.
 */
export function resumePoints(rows: ReadonlyArray<{ sequences: number; wallTime?: number }>): number[] {
  const out: number[] = [];
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1].wallTime,
      b = rows[i].wallTime;
    if (typeof a === 'number' && typeof b === 'number' && b < a) out.push(rows[i].sequences);
  }
  return out;
}
