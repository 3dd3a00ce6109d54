/**
 * Path clamps (issue 18, docs/path-patching.md): clamps on one edge sender → receiver of the circuit, where the
 * sender is a head of an earlier layer and the receiver reads the residual stream through its own LayerNorm
 * into its query, key or value. The receiver's chosen input is recomputed from
 *
 *   x′ = resid_pre(receiver layer) − out_sender + r,      input = LN(x′) · W_{Q|K|V}^{receiver}ᵀ
 *
 * where out_sender = z_sender · W_proj[:, sender dims]ᵀ is the sender's own write into the residual stream
 * (the model is pre-LN, so the receiver sees x′ only through its block's LN) and r is
 *
 *   path-patch     r = the sender's output on a corrupted input (clamps/corruptions.ts), 0, or its mean over
 *                  the batch (per position, no gradient through the mean)
 *   stop-gradient  r = out_sender with its gradient stopped: the forward is the clean one, but no gradient
 *                  flows back along the edge (the sender still learns through every other path)
 *
 * Everything else — the sender's direct path, the other receivers, the receiver's other inputs — is computed
 * as usual. Entries another clamp already fixes (an ablated receiver's zero values) keep that clamp's value.
 * The definitions are registry entries (kinds.ts, shaped as kindDef.ts says); their TensorFlow.js application is clamps/pathApply.ts.
 */
import type { FieldReader, KindDef, ModelShape } from './kindDef';
import { parseHead } from './heads';
import { site } from '../model/sites';
import { Corruption, CORRUPTIONS, checkCorruption } from './corruptions';

export type PathInput = 'q' | 'k' | 'v';
export const PATH_INPUTS: readonly PathInput[] = ['q', 'k', 'v'];
export type PathReplacement = 'corrupt' | 'zero' | 'mean';
export const PATH_REPLACEMENTS: readonly PathReplacement[] = ['corrupt', 'zero', 'mean'];

export interface PathEdge {
  sender: string;
  receiver: string;
  input: PathInput;
}
export type PathPatchBody = { kind: 'path-patch' } & PathEdge & { with: PathReplacement; corruption?: Corruption };
export type StopGradientBody = { kind: 'stop-gradient' } & PathEdge;

/** The site of a receiver input (pre-RoPE q / k, or v; position-major [B, T, H, D]). */
export function inputSite(input: PathInput, layer: number): string {
  return input === 'q' ? site.q(layer) : input === 'k' ? site.k(layer) : site.v(layer);
}

/** Reads and checks sender, receiver and input: both heads exist, the receiver sits in a later layer. */
function readEdge(r: FieldReader, kind: string): PathEdge {
  const one = (key: string) => {
    const hs = r.heads(key);
    if (hs.length !== 1) r.fail(`.${key} must be a single head, got ${hs.join(',')}`);
    return hs[0];
  };
  const sender = one('sender'),
    receiver = one('receiver');
  const m = r.model,
    s = parseHead(sender, m.depth, m.numHeads),
    t = parseHead(receiver, m.depth, m.numHeads);
  if (t.layer <= s.layer) {
    r.fail(
      `: a ${kind} edge's receiver must sit in a later layer than its sender (it reads the sender's output), ` +
        `got ${sender} → ${receiver}${t.layer === 0 ? ' (a first-layer head reads only the embedding)' : ''}`,
    );
  }
  const input = r.raw('input');
  if (!PATH_INPUTS.includes(input as PathInput)) {
    r.fail(`.input must be one of q, k, v (the receiver's query, key or value), got ${JSON.stringify(input)}`);
  }
  return { sender, receiver, input: input as PathInput };
}

const edgeText = (e: PathEdge) => `${e.sender}→${e.receiver}.${e.input.toUpperCase()}`;
const writesInput = (e: PathEdge, c: ModelShape) => [
  inputSite(e.input, parseHead(e.receiver, c.depth, c.numHeads).layer),
];

/** The sites the fast engine's folded path clamps recompute (another clamp's override of one cannot be folded). */
export function pathFoldReads(s: PathEdge, c: ModelShape): string[] {
  return [site.lnNormalized(parseHead(s.receiver, c.depth, c.numHeads).layer)];
}

export const PATH_PATCH_DEF: KindDef<'path-patch', PathPatchBody> = {
  kind: 'path-patch',
  section: 'issue 18',
  summary: "one edge sees the sender's corrupted / zero / mean output",
  effect:
    "the receiver's Q, K or V reads LN(resid − out_sender + r), r = the sender's output on a corrupted " +
    'input, 0 or its batch mean; the rest of the forward clean',
  example: 'path-patch:L1H2>L2H3,input=k,with=corrupt,corruption=prev-token',
  fields: ['sender', 'receiver', 'input', 'with', 'corruption'],
  items: 'edge',
  shortDefaults: { input: 'k', with: 'zero' },
  twoPairs: false,
  parse: (r) => {
    const e = readEdge(r, 'path-patch');
    const w = r.raw('with') ?? 'zero';
    if (!PATH_REPLACEMENTS.includes(w as PathReplacement)) {
      r.fail(`.with must be one of ${PATH_REPLACEMENTS.join(', ')}, got ${JSON.stringify(w)}`);
    }
    const cor = r.raw('corruption');
    if (w === 'corrupt') {
      if (cor === undefined) r.fail(`: with = "corrupt" needs a corruption (${CORRUPTIONS.join(', ')})`);
      let k: Corruption;
      try {
        k = checkCorruption(cor);
      } catch (err) {
        return r.fail(`.corruption: ${(err as Error).message}`);
      }
      if (r.model.contextLen !== 2) r.fail(': corruptions are defined for 2 context pairs (5 tokens)');
      return { kind: 'path-patch', ...e, with: 'corrupt', corruption: k };
    }
    if (cor !== undefined) r.fail(`.corruption applies only with with = "corrupt" (got with = "${w as string}")`);
    return { kind: 'path-patch', ...e, with: w as PathReplacement };
  },
  describe: (s) => `path-patch ${edgeText(s)} (${s.with === 'corrupt' ? `corrupted: ${s.corruption}` : s.with})`,
  writes: writesInput,
  application: 'pass',
  batchFree: true, // no host overrides: the fast model folds it, the TF.js engine runs it as passes
  readsExemplars: false,
  fastTraining: () => 'folded', // fast/pathFold.ts (a corruption's pass runs first, blocks 0 … sender)
  fastForward: () => 'folded',
  // The batch mean, and the class corruption's partner (the next class-disjoint sequence of the batch).
  mixesSequences: (s) => s.with === 'mean' || (s.with === 'corrupt' && s.corruption === 'class'),
};

export const STOP_GRADIENT_DEF: KindDef<'stop-gradient', StopGradientBody> = {
  kind: 'stop-gradient',
  section: 'issue 18',
  summary: 'clean forward, no gradient back along one edge',
  effect:
    "the receiver's Q, K or V reads LN(resid − out_sender + stopgrad(out_sender)): the forward is unchanged, " +
    'no gradient reaches the sender along that edge',
  example: 'stop-gradient:L1H2>L2H3,input=k',
  fields: ['sender', 'receiver', 'input'],
  items: 'edge',
  shortDefaults: { input: 'k' },
  twoPairs: false,
  parse: (r) => ({ kind: 'stop-gradient', ...readEdge(r, 'stop-gradient') }),
  describe: (s) => `stop-gradient ${edgeText(s)}`,
  writes: writesInput,
  application: 'pass',
  batchFree: true,
  readsExemplars: false,
  fastTraining: () => 'folded',
  fastForward: () => 'folded',
};
