/**
 * Which rows the embedding computes (fast/model.ts "rows mode"): layer 0's LayerNorm and QKV act on each
 * token alone and RoPE adds no positional embedding, so they are computed once per distinct embedding
 * row. parts = [exemplar rows; label rows]: each distinct exemplar vector once (found by the HostBatch's
 * index, the caller's exemplar ids, or by hashing the vectors) and each distinct context label once; then
 * tokmap [B·T] says which row of parts each token is. Without dedup every item is its own row.
 */
import type { HostBatch } from '../model/hostBatch';
import type { KernelExports } from './kernels';
import { F, Geometry, Layout } from './layout';
import type { ExemplarBatch, FastBatch } from './inputs';

export interface RowsContext {
  k: KernelExports;
  memory: WebAssembly.Memory;
  g: Geometry;
  lay: Layout;
  labelSlot: Int32Array;
}

/** Xsrc [nUex, I]: the exemplar rows to embed; nUlab label rows follow them in parts. */
export interface EmbeddingRows {
  nUex: number;
  nUlab: number;
  Xsrc: number;
}

/** Fills exmap, labmap, ylist and tokmap (and the layer-1 clamp's shifted map smap) for this batch. */
export function embeddingRows(cx: RowsContext, batch: FastBatch, dedup: boolean, layer1: boolean): EmbeddingRows {
  const { nUex, Xsrc } = exemplarRows(cx, batch, dedup);
  const nUlab = labelRows(cx, nUex, dedup);
  tokenMap(cx);
  if (layer1) shiftMap(cx);
  return { nUex, nUlab, Xsrc };
}

/** Exemplar rows: exmap [B·C1] (item → row of Xsrc). */
function exemplarRows(cx: RowsContext, batch: FastBatch, dedup: boolean): { nUex: number; Xsrc: number } {
  const { k, lay } = cx,
    I = cx.g.I,
    lv = lay.views,
    nEx = lay.nEx,
    ex = lv.exmap,
    ue = lv.uex;
  const host = 'vectors' in batch ? (batch as HostBatch) : null;
  const copyRow = (dst: number, r: number) =>
    new Float32Array(cx.memory.buffer, dst, I).set(host!.vectors.subarray(r * I, (r + 1) * I));
  if (!dedup) {
    if (host) for (let r = 0; r < nEx; r++) copyRow(lay.X + r * I * F, host.index[r]);
    for (let r = 0; r < nEx; r++) ex[r] = r;
    return { nUex: nEx, Xsrc: lay.X };
  }
  let nUex: number;
  const ids = host ? host.index : (batch as ExemplarBatch).exemplarIds;
  if (ids) {
    // Distinct vectors by id (open addressing on the id); ue = the first item of each.
    if (ids.length !== nEx)
      throw new Error(`batch.${host ? 'index' : 'exemplarIds'} has ${ids.length} values, expected ${nEx}`);
    const tab = lay.table,
      keys = lay.tableKeys,
      mask = tab.length - 1;
    tab.fill(0);
    nUex = 0;
    for (let r = 0; r < nEx; r++) {
      const id = ids[r];
      let s = (Math.imul(id ^ (id >>> 15), 0x2c1b3c6d) >>> 12) & mask,
        found = -1;
      while (tab[s] !== 0) {
        if (keys[s] === id) {
          found = tab[s] - 1;
          break;
        }
        s = (s + 1) & mask;
      }
      if (found < 0) {
        tab[s] = nUex + 1;
        keys[s] = id;
        ue[nUex] = r;
        found = nUex++;
      }
      ex[r] = found;
    }
  } else {
    // Distinct exemplar vectors (bitwise), found by hash then confirmed by comparison.
    k.hash_rows(lay.X, nEx, I, lay.hashes);
    const h = lv.hashes,
      tab = lay.table,
      mask = tab.length - 1;
    tab.fill(0);
    nUex = 0;
    for (let r = 0; r < nEx; r++) {
      let s = h[r] & mask,
        found = -1;
      while (tab[s] !== 0) {
        const rep = tab[s] - 1;
        if (h[rep] === h[r] && k.rows_equal(lay.X + rep * I * F, lay.X + r * I * F, I)) {
          found = ex[rep];
          break;
        }
        s = (s + 1) & mask;
      }
      if (found < 0) {
        tab[s] = r + 1;
        ue[nUex] = r;
        found = nUex++;
      }
      ex[r] = found;
    }
  }
  if (host) for (let u = 0; u < nUex; u++) copyRow(lay.Xu + u * I * F, host.index[ue[u]]);
  else k.gather_rows(lay.X, lay.uex, nUex, I, lay.Xu); // Xu [nUex, I]
  return { nUex, Xsrc: lay.Xu };
}

/** Label rows of parts after the nUex exemplar rows: labmap [B·C] and ylist; returns their count. */
function labelRows(cx: RowsContext, nUex: number, dedup: boolean): number {
  const C = cx.g.C,
    C1 = C + 1,
    lay = cx.lay,
    lv = lay.views,
    B = lay.B,
    lm = lv.labmap,
    yl = lv.ylist;
  if (!dedup) {
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++) {
        lm[b * C + c] = nUex + b * C + c;
        yl[b * C + c] = lv.labels[b * C1 + c];
      }
    return lay.nLab;
  }
  const slot = cx.labelSlot; // label → row among the distinct labels (−1 = unseen)
  slot.fill(-1);
  let n = 0;
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++) {
      const y = lv.labels[b * C1 + c];
      if (slot[y] < 0) {
        slot[y] = n;
        yl[n++] = y;
      }
      lm[b * C + c] = nUex + slot[y];
    }
  return n;
}

/** tokmap: token t of sequence b is exemplar c at t = 2c, label c at t = 2c+1, the query at t = 2C. */
function tokenMap(cx: RowsContext): void {
  const { T, C } = cx.g,
    C1 = C + 1,
    lv = cx.lay.views,
    B = cx.lay.B,
    ex = lv.exmap,
    lm = lv.labmap,
    tm = lv.tokmap;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      tm[b * T + 2 * c] = ex[b * C1 + c];
      tm[b * T + 2 * c + 1] = lm[b * C + c];
    }
    tm[b * T + 2 * C] = ex[b * C1 + C];
  }
}

/** The layer-1 pattern pass's shift σ (spec §4.6): token t reads row σ(t) = 0, t−1 (1 ≤ t ≤ T−2), T−1. */
function shiftMap(cx: RowsContext): void {
  const T = cx.g.T,
    lv = cx.lay.views,
    B = cx.lay.B,
    sm = lv.smap,
    tm = lv.tokmap;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) sm[b * T + t] = tm[b * T + (t === 0 || t === T - 1 ? t : t - 1)];
}
