/**
 * Loads the fast path's WebAssembly kernels (wasm/kernels.c, embedded by scripts/build-wasm.sh) into a
 * fresh memory. Two builds exist: plain SIMD128 and relaxed-SIMD (fused multiply-add in the GEMM); 'auto'
 * takes relaxed where the runtime validates it (Node ≥ 22, Electron ≥ 25, or Node started with
 * --experimental-wasm-relaxed-simd) and plain SIMD otherwise. Compiled modules are cached per process.
 */
import { SIMD_WASM, RELAXED_WASM } from './wasm/binary';

export type WasmVariant = 'simd' | 'relaxed';
export type WasmPreference = 'auto' | WasmVariant;

/** Pointers are byte offsets into the kernels' memory. */
export interface KernelExports {
  variant(): number;
  set_scratch(p: number): void;
  gemm(
    M: number,
    N: number,
    K: number,
    A: number,
    ra: number,
    ca: number,
    B: number,
    ldb: number,
    C: number,
    ldc: number,
    acc: number,
  ): void;
  gemm_nt(
    M: number,
    N: number,
    K: number,
    A: number,
    lda: number,
    B: number,
    ldb: number,
    C: number,
    ldc: number,
    acc: number,
  ): void;
  transpose(src: number, rows: number, cols: number, dst: number): void;
  fill(p: number, n: number, v: number): void;
  copy(src: number, dst: number, n: number): void;
  axpy(y: number, x: number, n: number, a: number): void;
  where_apply(buf: number, val: number, mask: number, n: number): void;
  grad_mask(g: number, mask: number, n: number): void;
  add_bias(y: number, ld: number, b: number, rows: number, d: number): void;
  col_sum(x: number, ld: number, rows: number, d: number, out: number, acc: number): void;
  gather_rows(src: number, map: number, n: number, d: number, out: number): void;
  scatter_add_rows(src: number, map: number, n: number, d: number, out: number): void;
  add_rows(a: number, b: number, out: number, B: number, T: number, t0: number, d: number): void;
  embed_label(y: number, n: number, W: number, L: number, d: number, out: number): void;
  embed_label_bwd(y: number, n: number, dout: number, L: number, d: number, dW: number): void;
  hash_rows(x: number, rows: number, dim: number, out: number): void;
  rows_equal(a: number, b: number, dim: number): number;
  ln_fwd(
    x: number,
    y: number,
    stats: number,
    g: number,
    be: number,
    B: number,
    T: number,
    t0: number,
    d: number,
    eps: number,
  ): void;
  ln_bwd(
    x: number,
    dy: number,
    stats: number,
    g: number,
    dx: number,
    dg: number,
    db: number,
    B: number,
    T: number,
    t0: number,
    d: number,
    acc: number,
  ): void;
  to_heads(
    src: number,
    ld: number,
    off: number,
    map: number,
    out: number,
    B: number,
    T: number,
    t0: number,
    H: number,
    D: number,
  ): void;
  from_heads(
    src: number,
    dst: number,
    ld: number,
    off: number,
    map: number,
    B: number,
    T: number,
    t0: number,
    H: number,
    D: number,
    add: number,
  ): void;
  to_heads_rope(
    src: number,
    ld: number,
    off: number,
    map: number,
    raw: number,
    rot: number,
    cs: number,
    sn: number,
    B: number,
    T: number,
    t0: number,
    H: number,
    D: number,
  ): void;
  rope_from_heads(
    src: number,
    cs: number,
    sn: number,
    dst: number,
    ld: number,
    off: number,
    map: number,
    B: number,
    T: number,
    t0: number,
    H: number,
    D: number,
    add: number,
  ): void;
  rope(
    x: number,
    y: number,
    cs: number,
    sn: number,
    BH: number,
    T: number,
    t0: number,
    D: number,
    inverse: number,
  ): void;
  attn_scores(q: number, k: number, s: number, BH: number, T: number, t0: number, D: number, scale: number): void;
  exp_f32(x: number): number;
  exp_f32x4(x: number, y: number, n: number): void;
  softmax(s: number, p: number, BH: number, T: number, t0: number): void;
  softmax_bwd(p: number, dp: number, ds: number, BH: number, T: number, t0: number): void;
  attn_z(p: number, v: number, z: number, BH: number, T: number, t0: number, D: number): void;
  attn_z_bwd(
    p: number,
    v: number,
    dz: number,
    dp: number,
    dv: number,
    BH: number,
    T: number,
    t0: number,
    D: number,
  ): void;
  /** A block's attention forward only from its qkv rows (D = 8, H = 4k, T ≤ 8): merged [B, T, d], the pattern if patt ≠ 0. */
  attn_fused(
    qkv: number,
    ld: number,
    map: number,
    cs: number,
    sn: number,
    merged: number,
    patt: number,
    B: number,
    T: number,
    H: number,
    scale: number,
  ): void;
  attn_pool(p: number, Z: number, Y: number, B: number, H: number, T: number, d: number): void;
  attn_pool_dp(Z: number, dY: number, dp: number, B: number, H: number, T: number, d: number): void;
  attn_pool_dz(p: number, dY: number, dZ: number, B: number, H: number, T: number, d: number): void;
  attn_scores_bwd(
    ds: number,
    q: number,
    k: number,
    dq: number,
    dk: number,
    BH: number,
    T: number,
    t0: number,
    D: number,
    scale: number,
  ): void;
  adam(
    p: number,
    m: number,
    v: number,
    g: number,
    n: number,
    b1: number,
    b2: number,
    omb1: number,
    omb2: number,
    lr: number,
    c1: number,
    c2: number,
    eps: number,
  ): void;
  adam_f32(
    p: number,
    m: number,
    v: number,
    g: number,
    n: number,
    b1: number,
    b2: number,
    omb1: number,
    omb2: number,
    step: number,
    rs2: number,
    eps: number,
  ): void;
}

export interface Kernels {
  readonly k: KernelExports;
  readonly memory: WebAssembly.Memory;
  /** First free byte after the module's stack and data. */
  readonly heapBase: number;
  readonly variant: WasmVariant;
}

const decode = (b64: string): Uint8Array => Uint8Array.from(Buffer.from(b64, 'base64'));
const bytes: Partial<Record<WasmVariant, Uint8Array>> = {};
const modules: Partial<Record<WasmVariant, WebAssembly.Module>> = {};
const bytesOf = (v: WasmVariant): Uint8Array => (bytes[v] ??= decode(v === 'simd' ? SIMD_WASM : RELAXED_WASM));

/** Whether this runtime can run the given build (relaxed SIMD is not on by default in Node 20). */
export function wasmVariantSupported(v: WasmVariant): boolean {
  try {
    return WebAssembly.validate(bytesOf(v) as BufferSource);
  } catch {
    return false;
  }
}

export function resolveVariant(pref: WasmPreference = 'auto'): WasmVariant {
  if (pref === 'auto') return wasmVariantSupported('relaxed') ? 'relaxed' : 'simd';
  if (!wasmVariantSupported(pref)) {
    throw new Error(
      `the fast path's ${pref} WebAssembly build does not validate in this runtime (node ${process.versions.node}, v8 ${process.versions.v8})${pref === 'relaxed' ? '; relaxed SIMD needs Node ≥ 22 or --experimental-wasm-relaxed-simd' : ''}`,
    );
  }
  return pref;
}

const PAGE = 65536;

export function loadKernels(pref: WasmPreference = 'auto', initialBytes = 4 << 20): Kernels {
  const variant = resolveVariant(pref);
  const mod = (modules[variant] ??= new WebAssembly.Module(bytesOf(variant) as BufferSource));
  const memory = new WebAssembly.Memory({ initial: Math.ceil(initialBytes / PAGE) });
  const inst = new WebAssembly.Instance(mod, { env: { memory } });
  const ex = inst.exports as unknown as KernelExports & { __heap_base: WebAssembly.Global };
  return { k: ex, memory, heapBase: Number(ex.__heap_base.value), variant };
}
