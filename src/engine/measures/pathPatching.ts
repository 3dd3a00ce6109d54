/**
 * Path patching of the PTH → IH circuit (issue 18; docs/path-patching.md). For every sender j (a first-layer
 * head), receiver i (a last-layer head) and receiver input X ∈ {Q, K, V}, on the context's sequences (the
 * run's own ablations kept), with corruption κ (clamps/corruptions.ts):
 *
 *   LD_s           = z_s[y_s] − z_s[ȳ_s]     query logits; y = the correct label, ȳ = the other context label
 *   E_κ[X][i][j]   = mean_s ( LD_s(receiver i's X reads LN(resid − out_j + out_j^κ)) − LD_s )
 *   A_κ[X][i][j]   = mean_s Σ_t ∂LD_s/∂x_{i,X}[t] · (out_j^κ[t] − out_j[t])       (attribution patching)
 *
 * resid = the last block's residual input (clean), out_j = z_j W_proj^{(0)}[:, jD…]ᵀ the sender's write into
 * it, out_j^κ the same on the corrupted sequence, x_{i,X} receiver i's private copy of the residual that
 * feeds its X through the block's LayerNorm. Everything else is clean: the sender's direct path, the other
 * receivers, the receiver's other inputs. An ablated receiver's entries are 0 (its values stay zero, as the
 * path clamps compose) and so are an ablated sender's (its output is zero on both inputs).
 *
 * Exact values: from one clean and one corrupted pass per chunk (the forward interface: the fast engine),
 * then per edge only what the edge changes — the receiver's attention at the query row and the final LN and
 * unembedding at the query — in double precision, with what an edge does not change shared between edges and
 * corruptions (pathShortcut.ts: a forward-only shortcut like fast/ablationEval.ts). The
 * TensorFlow.js reference (`exactPathPatchingTf`: the path-patch clamp itself, one full clamped forward per
 * edge) gives the same numbers within float32 rounding (test/unit/paths-measure.test.ts). The attribution
 * approximation reuses the same clean and corrupted passes and one hand-written backward per sequence (from the
 * logit difference to each receiver's residual copy), reported with its error against the exact values.
 */
import { tf } from '../model/tf';
import { ModelConfig } from '../model/config';
import { Params } from '../model/params';
import { HostBatch, classIds } from '../model/hostBatch';
import { TfWeights, hostBatchInputs } from '../model/tfModel';
import { site } from '../model/sites';
import { ClampSpec } from '../clamps/spec';
import { clampedForward } from '../clamps/apply';
import { formatHead, headsByLayer } from '../clamps/heads';
import { CORRUPTIONS, CORRUPTION_DOC, Corruption, corruptHostBatch } from '../clamps/corruptions';
import { PATH_INPUTS, PathInput } from '../clamps/pathKinds';
import { MeasureContext, layerHeads } from './dense';
import { ShortcutClean, shortcutChunk, shortcutWeights } from './pathShortcut';

export const PATH_PATCHING_FORMULA = {
  logitDiff: 'LD_s = z_s[y_s] − z_s[ȳ_s] at the query (y = correct label, ȳ = the other context label)',
  exact:
    "E[X][i][j] = mean_s (LD_s with receiver i's X reading LN(resid − out_j + out_j^corrupt) − LD_s), " +
    'rows i = last-layer receivers, cols j = first-layer senders',
  attribution:
    'A[X][i][j] = mean_s Σ_t ∂LD_s/∂x_{i,X}[t] · (out_j^corrupt − out_j)[t]  ' +
    '(one clean pass, one corrupted pass, one backward)',
  error: 'attribution vs exact over the H×H×3 entries: max |A − E|, mean |A − E|, ‖A − E‖/‖E‖, ' + 'Pearson r',
};

export type InputMatrices = Record<PathInput, number[][]>;

export interface ErrorStats {
  maxAbs: number;
  meanAbs: number;
  relative: number | null;
  correlation: number | null;
}

export interface CorruptionResult {
  corruption: Corruption;
  description: string;
  /** Mean LD of the fully corrupted run, against the clean sequences' labels. */
  corruptLD: number;
  /** Sequences without a class-disjoint partner in their chunk (class corruption). */
  unmatched: number;
  exact: InputMatrices;
  attribution: InputMatrices | null;
  attributionError: ErrorStats | null;
  /** The largest |E| edges, e.g. { edge: "L1H2→L2H3.K", exact, attribution }. */
  top: Array<{ edge: string; exact: number; attribution: number | null }>;
}

export interface PathPatchingResult {
  formula: typeof PATH_PATCHING_FORMULA;
  n: number;
  senders: string[];
  receivers: string[];
  inputs: readonly PathInput[];
  /** Mean clean LD. */
  cleanLD: number;
  engine: string;
  corruptions: CorruptionResult[];
}

/** The correct and the other context label of sequence s. */
function labelPair(labels: ArrayLike<number>, s: number): [number, number] {
  const y = labels[3 * s + 2];
  return [y, labels[3 * s] === y ? labels[3 * s + 1] : labels[3 * s]];
}

/** Sites of the clean pass the shortcut reads (pathShortcut.ts): in full, and at the query. */
function cleanSites(c: ModelConfig): { record: Set<string>; recordQuery: Set<string> } {
  const L = c.depth - 1;
  return {
    record: new Set([site.residPre(L), site.z(0), site.rotK(L), site.v(L)]),
    recordQuery: new Set([site.rotQ(L), site.residPost(L)]),
  };
}

// ------------------------------------------------------------------------------------------ the measure

const zeros3 = (H: number) => [0, 1, 2].map(() => Array.from({ length: H }, () => new Float64Array(H)));
const toMatrices = (sum: Float64Array[][], n: number): InputMatrices =>
  Object.fromEntries(
    PATH_INPUTS.map((x, xi) => [x, sum[xi].map((row) => Array.from(row, (v) => v / n))]),
  ) as InputMatrices;

export function errorStats(a: InputMatrices, e: InputMatrices): ErrorStats {
  const av: number[] = [],
    ev: number[] = [];
  for (const x of PATH_INPUTS)
    a[x].forEach((row, i) =>
      row.forEach((v, j) => {
        av.push(v);
        ev.push(e[x][i][j]);
      }),
    );
  const n = av.length;
  let maxAbs = 0,
    sumAbs = 0,
    d2 = 0,
    e2 = 0,
    ma = 0,
    me = 0;
  for (let k = 0; k < n; k++) {
    const dd = av[k] - ev[k];
    maxAbs = Math.max(maxAbs, Math.abs(dd));
    sumAbs += Math.abs(dd);
    d2 += dd * dd;
    e2 += ev[k] * ev[k];
    ma += av[k];
    me += ev[k];
  }
  ma /= n;
  me /= n;
  let cov = 0,
    va = 0,
    ve = 0;
  for (let k = 0; k < n; k++) {
    cov += (av[k] - ma) * (ev[k] - me);
    va += (av[k] - ma) ** 2;
    ve += (ev[k] - me) ** 2;
  }
  return {
    maxAbs,
    meanAbs: sumAbs / n,
    relative: e2 > 0 ? Math.sqrt(d2 / e2) : null,
    correlation: va > 0 && ve > 0 ? cov / Math.sqrt(va * ve) : null,
  };
}

export interface PathPatchingOptions {
  corruptions?: readonly Corruption[];
  /** Compute the attribution approximation too (default true). */
  attribution?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** The `path-patching` measure at the context's checkpoint (see the file comment). */
export function pathPatching(ctx: MeasureContext, o: PathPatchingOptions = {}): PathPatchingResult {
  const c = ctx.config,
    H = c.numHeads,
    L = c.depth - 1,
    N = ctx.batch.size;
  if (c.mlpRatio !== null) {
    throw new Error('path patching is defined for attention-only models (this one has MLP blocks)');
  }
  const kinds = o.corruptions ?? CORRUPTIONS;
  const w = shortcutWeights(c, ctx.params);
  const ablatedHeads = ctx.baseClamps.flatMap((k) => (k.kind === 'ablate' ? k.heads : []));
  const ablated = headsByLayer(ablatedHeads, c.depth, c.numHeads);
  const skip = new Set(ablated.get(L) ?? []);
  // An ablated receiver's entries stay 0 (its values are zero, as the path clamps compose).
  const live = Array.from({ length: H }, (_, i) => i).filter((i) => !skip.has(i));
  const exact = kinds.map(() => zeros3(H)),
    attr = kinds.map(() => zeros3(H));
  const corruptLD = kinds.map(() => 0),
    unmatched = kinds.map(() => 0);
  const want = o.attribution !== false;
  let ldSum = 0,
    engine = '';
  const total = ctx.chunks.length * kinds.length;
  ctx.chunks.forEach((chunk, ci) => {
    const clean = ctx.forward.run(chunk, ctx.baseClamps, { sequences: ctx.sequences, ...cleanSites(c) });
    engine = clean.engine;
    const zx = kinds.map((kind, ki) => {
      const cb = corruptHostBatch(chunk, kind);
      unmatched[ki] += cb.unmatched;
      const cor = ctx.forward.run(cb.batch, ctx.baseClamps, {
        sequences: ctx.sequences,
        record: new Set([site.z(0)]),
      });
      for (let s = 0; s < chunk.size; s++) {
        const [yc, yo] = labelPair(chunk.labels, s);
        corruptLD[ki] += cor.logits[s * c.numLabels + yc] - cor.logits[s * c.numLabels + yo];
      }
      return cor.acts.get(site.z(0))!;
    });
    const sites: ShortcutClean = {
      resid: clean.acts.get(site.residPre(L))!,
      z0: clean.acts.get(site.z(0))!,
      rotK: clean.acts.get(site.rotK(L))!,
      v: clean.acts.get(site.v(L))!,
      rotQ: clean.queryActs.get(site.rotQ(L))!,
      residPost: clean.queryActs.get(site.residPost(L))!,
    };
    ldSum += shortcutChunk(w, chunk.labels, chunk.size, sites, zx, live, exact, want ? attr : null);
    o.onProgress?.((ci + 1) * kinds.length, total);
  });
  const senders = layerHeads(c, 0),
    receivers = layerHeads(c, L);
  return {
    formula: PATH_PATCHING_FORMULA,
    n: N,
    senders,
    receivers,
    inputs: PATH_INPUTS,
    cleanLD: ldSum / N,
    engine,
    corruptions: kinds.map((kind, ki) => {
      const E = toMatrices(exact[ki], N),
        A = want ? toMatrices(attr[ki], N) : null;
      const edges = PATH_INPUTS.flatMap((x) =>
        receivers.flatMap((r, i) =>
          senders.map((s, j) => ({
            edge: `${s}→${r}.${x.toUpperCase()}`,
            exact: E[x][i][j],
            attribution: A ? A[x][i][j] : null,
          })),
        ),
      );
      edges.sort((a, b) => Math.abs(b.exact) - Math.abs(a.exact));
      return {
        corruption: kind,
        description: CORRUPTION_DOC[kind],
        corruptLD: corruptLD[ki] / N,
        unmatched: unmatched[ki],
        exact: E,
        attribution: A,
        attributionError: A ? errorStats(A, E) : null,
        top: edges.slice(0, 8),
      };
    }),
  };
}

// ------------------------------------------------------------------------------------------ TF.js reference

/**
 * The exact effects on the TensorFlow.js reference: for each edge, one clamped forward with the path-patch
 * clamp (receiver i's X reads the sender's corrupted output), on top of the run's ablations. Slow (3·H²
 * forwards of three passes each; `only`: just these edges, the rest 0); the tests compare `pathPatching` with it.
 */
export function exactPathPatchingTf(
  c: ModelConfig,
  params: Params,
  chunk: HostBatch,
  base: ClampSpec[],
  kind: Corruption,
  only?: Array<{ input: PathInput; i: number; j: number }>,
): InputMatrices {
  const H = c.numHeads,
    L = c.depth - 1,
    B = chunk.size,
    w = new TfWeights(c, params, false);
  const sum = zeros3(H);
  const ldOf = (logits: Float32Array) => {
    let a = 0;
    for (let s = 0; s < B; s++) {
      const [yc, yo] = labelPair(chunk.labels, s);
      a += logits[s * c.numLabels + yc] - logits[s * c.numLabels + yo];
    }
    return a;
  };
  try {
    tf.tidy(() => {
      const inputs = hostBatchInputs(c, chunk),
        host = { labels: chunk.labels, size: B, itemIds: classIds(chunk) };
      const clean = ldOf(clampedForward(c, w.weights, inputs, host, base, 0).logits.dataSync() as Float32Array);
      PATH_INPUTS.forEach((input, xi) => {
        for (let i = 0; i < H; i++)
          for (let j = 0; j < H; j++) {
            if (only && !only.some((e) => e.input === input && e.i === i && e.j === j)) continue;
            const edge: ClampSpec = {
              kind: 'path-patch',
              sender: formatHead({ layer: 0, head: j }),
              receiver: formatHead({ layer: L, head: i }),
              input,
              with: 'corrupt',
              corruption: kind,
            };
            const ld = tf.tidy(() =>
              ldOf(clampedForward(c, w.weights, inputs, host, [...base, edge], 0).logits.dataSync() as Float32Array),
            );
            sum[xi][i][j] = ld - clean;
          }
      });
    });
  } finally {
    w.dispose();
  }
  return toMatrices(sum, B);
}
