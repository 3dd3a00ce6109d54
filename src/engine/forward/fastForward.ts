/**
 * A forward-only pass on the fast engine with any clamp list fastForwardUnsupported accepts, composed
 * exactly as the reference composes it (spec §3.4, clamps/apply.ts):
 *
 *   clean pass (the unclamped model, no overrides) → preserve → temperature → layer 1 → perfect copy →
 *   the constant clamps (ablate-embedding, ablate, patterns, match, disallow, silence), later overrides
 *   winning where their masks overlap.
 *
 * The two-pass clamps become host overrides read from the clean pass: preserve copies a site of every
 * layer with a full mask, temperature writes the chosen heads' clean scores / T, perfect copy writes the
 * query logits from one head's clean scores (with the layer-1 clamp, a last-layer head's scores come from
 * the layer-1 pattern pass; the fast model's folded copy computes them, stopping at those scores). When
 * the copied logits are all the caller reads, no further pass runs. The clean pass depends only on the
 * parameters and the batch, so the caller caches it per batch (`clean`).
 */
import { ModelConfig, seqLen } from '../model/config';
import { Params } from '../model/params';
import { HostOverride, newHostOverride, mergeHostOverrides } from '../model/hostOverride';
import { HostBatch, itemExemplars } from '../model/hostBatch';
import { site, siteShapes } from '../model/sites';
import { ClampSpec, CLAMP_ORDER } from '../clamps/spec';
import { headsByLayer, parseHead } from '../clamps/heads';
import { hostOverrides } from '../clamps/apply';
import { readsExemplars } from '../clamps/support';
import { copyLogitsOverride } from '../clamps/copy';
import { FastModel } from '../fast/model';
import { foldedClampOptions } from '../fast/foldedClamps';

export interface FastForwardResult {
  /** [B, L] query logits (a copy). */
  logits: Float32Array;
  acts: Map<string, Float32Array>;
  queryActs: Map<string, Float32Array>;
}

/** The clean-pass sites each preserved activation comes from (spec §4.2), per layer. */
export const PRESERVED_SITE = { patterns: site.pattern, values: site.v, queries: site.rotQ, keys: site.rotK } as const;

/** Sites of the clean pass that these clamps read: in full, and at the query only (perfect copy's scores). */
export function cleanSitesNeeded(c: ModelConfig, clamps: ClampSpec[]): { full: Set<string>; query: Set<string> } {
  const full = new Set<string>(),
    query = new Set<string>();
  for (const k of clamps) {
    if (k.kind === 'preserve') for (let l = 0; l < c.depth; l++) for (const w of k.what) full.add(PRESERVED_SITE[w](l));
    else if (k.kind === 'temperature')
      for (const l of headsByLayer(k.heads, c.depth, c.numHeads).keys()) full.add(site.attnScores(l));
    else if (k.kind === 'copy') {
      // A last-layer head's scores come from the fast model's folded copy pass (see fastClampedForward).
      const h = parseHead(k.head, c.depth, c.numHeads);
      if (h.layer !== c.depth - 1) query.add(site.attnScores(h.layer));
    }
  }
  return { full, query };
}

/** A clean pass's recorded sites: in full (`acts`) and at the query (`queryActs`). */
export interface CleanActs {
  acts: Map<string, Float32Array>;
  queryActs: Map<string, Float32Array>;
}

/** Attention sites (scores, patterns), which the logits do not feed. */
const ATTENTION_SITE = /\.hook_(attn_scores|pattern)$/;

const onesByLength = new Map<number, Uint8Array>();
function ones(n: number): Uint8Array {
  let m = onesByLength.get(n);
  if (!m) {
    m = new Uint8Array(n).fill(1);
    onesByLength.set(n, m);
  }
  return m;
}

/**
 * Runs `active` (clamps active now, windows stripped) forward-only on `model`. `clean(sites)` returns the
 * clean pass's recorded sites for this batch (computing it when needed).
 */
export function fastClampedForward(
  model: FastModel,
  params: Params,
  batch: HostBatch,
  active: ClampSpec[],
  rec: { record?: ReadonlySet<string>; recordQuery?: ReadonlySet<string> },
  clean: (sites: { full: Set<string>; query: Set<string> }) => CleanActs,
  constants: (ordered: ClampSpec[]) => Map<string, HostOverride>,
): FastForwardResult {
  const c = model.config,
    B = batch.size,
    T = seqLen(c),
    H = c.numHeads;
  const ordered = [...active].sort((a, b) => CLAMP_ORDER.indexOf(a.kind) - CLAMP_ORDER.indexOf(b.kind));
  const layer1 = ordered.some((k) => k.kind === 'layer1');
  const needed = cleanSitesNeeded(c, ordered);
  const cleanActs = needed.full.size || needed.query.size ? clean(needed) : { acts: new Map(), queryActs: new Map() };
  const base = cleanActs.acts;
  // Only the two-pass clamps' overrides need the shapes (an evaluation without them skips ≈ 30 µs of cold code).
  let shapes: Record<string, number[]> | null = null;
  const shapeOf = (s: string) => (shapes ??= siteShapes(c, B))[s];
  const list: HostOverride[] = [];
  for (const k of ordered) {
    if (k.kind === 'preserve') {
      // §4.2: every head of every layer, full masks.
      for (let l = 0; l < c.depth; l++)
        for (const w of k.what) {
          const s = PRESERVED_SITE[w](l),
            v = base.get(s)!;
          list.push({ site: s, shape: shapeOf(s), value: v, mask: ones(v.length) });
        }
    } else if (k.kind === 'temperature') {
      // §4.8: the heads' clean pre-softmax scores divided by T (in float32, as the reference divides them).
      const tT = Math.fround(k.temperature);
      for (const [l, heads] of headsByLayer(k.heads, c.depth, c.numHeads)) {
        const s = site.attnScores(l),
          S = base.get(s)!,
          o = newHostOverride(s, shapeOf(s));
        for (let b = 0; b < B; b++)
          for (const h of heads)
            for (let i = (b * H + h) * T * T, e = i + T * T; i < e; i++) {
              o.value[i] = Math.fround(S[i] / tT);
              o.mask[i] = 1;
            }
        list.push(o);
      }
    } else if (k.kind === 'copy') {
      // §4.7: the query logits from the head's scores (the layer-1 pattern pass's for a last-layer head).
      const h = parseHead(k.head, c.depth, c.numHeads);
      // A last-layer head: the fast model's folded copy (no overrides: a clean pass, or the layer-1 pattern
      // pass) stops the last block at these scores.
      const s = site.attnScores(h.layer);
      // Nothing else to say: the folded copy pass's query logits are the answer (the same copy formula).
      if (h.layer === c.depth - 1 && !rec.record?.size && !rec.recordQuery?.size) {
        const r = model.run(params, batch, { backward: false, loss: false, layer1, copyHead: h.head });
        return { logits: r.logits.slice(), acts: new Map(), queryActs: new Map() };
      }
      // Recording only attention too, and no other clamp: one folded pass gives both, since the copy writes
      // only the query logits, which no recorded site reads (evaluation's fsl_train, the checkpoint summary).
      if (
        h.layer === c.depth - 1 &&
        ordered.every((o) => o.kind === 'copy' || o.kind === 'layer1') &&
        [...(rec.record ?? []), ...(rec.recordQuery ?? [])].every((x) => ATTENTION_SITE.test(x))
      ) {
        const r = model.run(params, batch, { backward: false, loss: false, layer1, copyHead: h.head, ...rec });
        return { logits: r.logits.slice(), acts: r.acts, queryActs: r.queryActs };
      }
      const scores =
        h.layer === c.depth - 1
          ? model
              .run(params, batch, { backward: false, layer1, copyHead: h.head, recordQuery: new Set([s]) })
              .queryActs.get(s)!
          : cleanActs.queryActs.get(s)!;
      list.push(copyLogitsOverride(scores, h.head, batch.labels, B, H, T, c.numLabels));
    }
  }
  // The constant clamps come after the two-pass ones and layer 1 / copy in the composition order.
  const consts = constants(ordered);
  const overrides = list.length ? mergeHostOverrides([...list, ...consts.values()]) : consts;
  // Perfect copy writes every query logit: with nothing recorded the final pass has nothing left to say.
  const logits = overrides.get(site.logits);
  if (logits && !rec.record?.size && !rec.recordQuery?.size && queryRowFullyMasked(logits, B, T, c.numLabels)) {
    const out = new Float32Array(B * c.numLabels);
    for (let b = 0; b < B; b++)
      out.set(logits.value.subarray((b * T + T - 1) * c.numLabels, (b * T + T) * c.numLabels), b * c.numLabels);
    return { logits: out, acts: new Map(), queryActs: new Map() };
  }
  const r = model.run(params, batch, {
    backward: false,
    loss: false,
    layer1,
    paths: foldedClampOptions(c, ordered).paths, // the path clamps, folded into this pass
    overrides: overrides.size ? overrides : undefined,
    ...rec,
  });
  return { logits: r.logits.slice(), acts: r.acts, queryActs: r.queryActs };
}

/** The merged host overrides of the constant clamps among `ordered` for this batch (they read only the batch). */
export function constantOverrides(c: ModelConfig, batch: HostBatch, ordered: ClampSpec[]): Map<string, HostOverride> {
  const exemplars = readsExemplars(ordered) ? itemExemplars(batch, c.inputDim) : undefined;
  return hostOverrides(c, { labels: batch.labels, size: batch.size, exemplars }, ordered, 0);
}

function queryRowFullyMasked(o: HostOverride, B: number, T: number, L: number): boolean {
  for (let b = 0; b < B; b++) for (let j = 0; j < L; j++) if (!o.mask[(b * T + T - 1) * L + j]) return false;
  return true;
}
