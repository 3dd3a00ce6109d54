/**
 * The fast model's memory: one bump allocator over the kernels' WebAssembly memory, and one layout of
 * every buffer per batch size (laid out on first use, reused by every call at that size). Pointers are
 * byte offsets; growing the memory detaches JavaScript views, so views are remade when `gen` moves.
 */
import type { HostOverride } from '../model/hostOverride';

export const F = 4; // bytes per float32 / int32

/** Byte offset of float `i` of the buffer at `ptr`. */
export const at = (ptr: number, i: number): number => ptr + i * F;

export class Arena {
  top: number;
  gen = 0;
  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.top = (base + 63) & ~63;
  }
  alloc(bytes: number): number {
    const p = (this.top + 63) & ~63;
    this.top = p + Math.max(bytes, 0);
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) {
      this.memory.grow(Math.ceil(need / 65536));
      this.gen++;
    }
    return p;
  }
  f32(n: number): number {
    return this.alloc(n * F);
  }
}

/** The model's sizes: T tokens, d = dModel, H heads of D, L labels, C context pairs, I input dim. */
export interface Geometry {
  T: number;
  d: number;
  H: number;
  D: number;
  L: number;
  C: number;
  I: number;
  depth: number;
}

/** Per-layer buffers (byte offsets); per-head tensors head-major [B, H, T, ·] inside. */
export interface LayerBufs {
  ln: number;
  stats: number;
  qkv: number;
  q: number;
  k: number;
  v: number;
  rq: number;
  rk: number;
  scores: number;
  pc: number;
  patt: number;
  z: number;
  merged: number;
  ao: number;
  rp: number;
}

/** Everything that depends on the batch size. */
export interface Layout {
  B: number;
  N: number;
  nEx: number;
  nLab: number;
  X: number;
  Xu: number;
  labels: number;
  hashes: number;
  exmap: number;
  labmap: number;
  tokmap: number;
  uex: number;
  ylist: number;
  /** [B, T] the row of parts that token t's query and key read under the layer-1 clamp (tokmap at σ(t)). */
  smap: number;
  parts: number;
  embed: number;
  layers: LayerBufs[];
  lnf: number;
  statsF: number;
  logits: number;
  qlogits: number;
  dlog: number;
  dlnf: number;
  dh: number;
  dao: number;
  dmerged: number;
  dz: number;
  dp: number;
  ds: number;
  drq: number;
  drk: number;
  dv: number;
  dqkv: number;
  dln: number;
  dparts: number;
  tmp: number;
  scratch: number;
  /** [B, H, d] pooled values of the last block and their gradient (see attn_pool). */
  pool: number;
  dpool: number;
  /** Override buffers per site (value floats, mask bytes) and the host override they hold. */
  ovr: Map<string, { val: number; mask: number; n: number; loaded: HostOverride | null }>;
  table: Int32Array;
  tableKeys: Int32Array;
  /** JS-side buffer for ExemplarBatch.exemplarIds (batchViews). */
  ids: Int32Array;
  gen: number;
  views: LayoutViews;
}

export interface LayoutViews {
  X: Float32Array;
  labels: Int32Array;
  hashes: Uint32Array;
  exmap: Int32Array;
  labmap: Int32Array;
  tokmap: Int32Array;
  smap: Int32Array;
  uex: Int32Array;
  ylist: Int32Array;
  logits: Float32Array;
  qlogits: Float32Array;
  dlog: Float32Array;
}

/** Allocates every buffer of batch size B. */
export function makeLayout(a: Arena, g: Geometry, B: number): Layout {
  const { T, d, H, D, L, C, I } = g,
    N = B * T,
    nEx = B * (C + 1),
    nLab = B * C,
    BH = B * H;
  const layers: LayerBufs[] = [];
  for (let l = 0; l < g.depth; l++) {
    layers.push({
      ln: a.f32(N * d),
      stats: a.f32(2 * N),
      qkv: a.f32(N * 3 * d),
      q: a.f32(BH * T * D),
      k: a.f32(BH * T * D),
      v: a.f32(BH * T * D),
      rq: a.f32(BH * T * D),
      rk: a.f32(BH * T * D),
      scores: a.f32(BH * T * T),
      pc: a.f32(BH * T * T),
      patt: a.f32(BH * T * T),
      z: a.f32(BH * T * D),
      merged: a.f32(N * d),
      ao: a.f32(N * d),
      rp: a.f32(N * d),
    });
  }
  const tableSize = 1 << Math.ceil(Math.log2(2 * nEx + 2));
  return {
    B,
    N,
    nEx,
    nLab,
    X: a.f32(nEx * I),
    Xu: a.f32(nEx * I),
    labels: a.f32(nEx),
    hashes: a.f32(nEx),
    exmap: a.f32(nEx),
    labmap: a.f32(nLab),
    tokmap: a.f32(N),
    smap: a.f32(N),
    uex: a.f32(nEx),
    ylist: a.f32(nLab),
    parts: a.f32(N * d),
    embed: a.f32(N * d),
    layers,
    lnf: a.f32(N * d),
    statsF: a.f32(2 * N),
    logits: a.f32(N * L),
    qlogits: a.f32(B * L),
    dlog: a.f32(N * L),
    dlnf: a.f32(N * d),
    dh: a.f32(N * d),
    dao: a.f32(N * d),
    dmerged: a.f32(N * d),
    dz: a.f32(N * d),
    dp: a.f32(BH * T * T),
    ds: a.f32(BH * T * T),
    drq: a.f32(N * d),
    drk: a.f32(N * d),
    dv: a.f32(N * d),
    dqkv: a.f32(N * 3 * d),
    dln: a.f32(N * d),
    dparts: a.f32(N * d),
    tmp: a.f32(N * Math.max(3 * d, L)),
    scratch: a.f32(4 * Math.max(I, 3 * d, N, L, 8)),
    pool: a.f32(BH * d),
    dpool: a.f32(BH * d),
    ovr: new Map(),
    table: new Int32Array(tableSize),
    tableKeys: new Int32Array(tableSize),
    ids: new Int32Array(nEx),
    gen: -1,
    views: undefined as unknown as LayoutViews,
  };
}

/** (Re)makes the layout's JavaScript views when the memory has grown since they were made. */
export function refreshLayoutViews(lay: Layout, memory: WebAssembly.Memory, gen: number, g: Geometry): void {
  if (lay.gen === gen) return;
  const buf = memory.buffer,
    { N, nEx, nLab, B } = lay;
  const f32 = (p: number, n: number) => new Float32Array(buf, p, n),
    i32 = (p: number, n: number) => new Int32Array(buf, p, n);
  lay.views = {
    X: f32(lay.X, nEx * g.I),
    labels: i32(lay.labels, nEx),
    hashes: new Uint32Array(buf, lay.hashes, nEx),
    exmap: i32(lay.exmap, nEx),
    labmap: i32(lay.labmap, nLab),
    tokmap: i32(lay.tokmap, N),
    smap: i32(lay.smap, N),
    uex: i32(lay.uex, nEx),
    ylist: i32(lay.ylist, nLab),
    logits: f32(lay.logits, N * g.L),
    qlogits: f32(lay.qlogits, B * g.L),
    dlog: f32(lay.dlog, N * g.L),
  };
  lay.gen = gen;
}
