/**
 * The SGLD inner loop in WebAssembly (wasm/sgld.c, embedded by scripts/build-llc-wasm.sh): the update of
 * every sampled coordinate with its ziggurat noise and diagnostics in one pass, the noise drawn in chunks
 * that stay in L1 and its common case in SIMD. In JavaScript the noise alone (one normal per parameter per
 * step, 66,629 for the paper's model) cost about as much as the model's forward and backward pass
 * (bench/llc.ts prices both).
 *
 * Each SgldKernel owns one module instance holding the sampler's flat vectors: w (current point), w0 (the
 * checkpoint w*), g (gradient), the previous drift and noise, the coordinate ranges and one xoshiro128**
 * state per chain. The module is position-independent (its statics at an imported __memory_base, its stack
 * at an imported __stack_pointer), so it runs either in a memory of its own or inside a host's — the fast
 * model's (KernelHost): w and g are then the model's parameter and gradient blocks, stepped in place, and
 * no vector crosses between two memories per step. A step allocates nothing: its statistics come back in
 * one record that the next step overwrites.
 */
import { Rng } from '../data/rng';
import { SGLD_WASM } from './wasm/binary';

interface Exports {
  __wasm_apply_data_relocs(): void;
  zig_kn(): number;
  zig_wn(): number;
  zig_fn(): number;
  fill_normal(out: number, n: number, state: number): void;
  exp_log(x: number, which: number): number;
  sgld_step(
    ranges: number,
    nRanges: number,
    w: number,
    w0: number,
    g: number,
    pd: number,
    pn: number,
    eps: number,
    nbeta: number,
    gamma: number,
    hasPrev: number,
    state: number,
    out: number,
  ): void;
}

/** Half-open coordinate ranges [start, end) of a flat parameter vector, sorted and disjoint. */
export type Ranges = ReadonlyArray<readonly [number, number]>;

/** The per-step statistics sgld_step returns (see sgld.c). */
export interface StepStats {
  /** Σ (w − w*)² before the update. */
  dist2: number;
  /** Σ g² of the minibatch gradient. */
  grad2: number;
  /** Σ drift², drift = nβ·g + γ·(w − w*). */
  drift2: number;
  /** Σ ξ² of the noise drawn. */
  noise2: number;
  /** U(w) − U(w_prev) by the trapezoid rule on the two drifts (valid when a previous step exists). */
  dU: number;
  /** log q(w_prev | w) − log q(w | w_prev) of the Langevin proposal. */
  logQRatio: number;
}

/**
 * Memory the kernel can live in: the fast model's (ModelInternals of src/engine/fast). `params` and `grads`
 * are the byte offsets of flat float32 vectors of the kernel's size: they become its w and g.
 */
export interface KernelHost {
  memory: WebAssembly.Memory;
  /** Allocates n floats (64-byte aligned) in `memory`; may grow it. */
  alloc(floats: number): number;
  params: number;
  grads: number;
}

let module_: WebAssembly.Module | null = null;
/** Bytes of the module's statics (its dylink.0 memory info). */
let staticBytes = 0;
const STACK_BYTES = 65536;

function sgldModule(): WebAssembly.Module {
  if (module_) return module_;
  const m = new WebAssembly.Module(Uint8Array.from(Buffer.from(SGLD_WASM, 'base64')) as BufferSource);
  // dylink.0: subsection 1 (memory info) starts with the statics' size, a LEB128.
  const d = new Uint8Array(WebAssembly.Module.customSections(m, 'dylink.0')[0] ?? new ArrayBuffer(0));
  if (d[0] !== 1) throw new Error('SgldKernel: the WebAssembly has no dylink.0 memory info');
  let i = 2,
    shift = 0;
  for (;;) {
    staticBytes |= (d[i] & 0x7f) << shift;
    shift += 7;
    if (!(d[i++] & 0x80)) break;
  }
  module_ = m;
  return m;
}

const LAYERS = 128,
  ZIG_R = 3.442619855899,
  ZIG_V = 9.91256303526217e-3,
  ZIG_M = 2 ** 24;

/**
 * Marsaglia & Tsang's ziggurat tables (128 layers): kn the fast-path bound of each layer and wn its width,
 * both with the value bits scaled by 2^24, fn the density at each layer's edge.
 */
export function zigguratTables(): { kn: Int32Array; wn: Float64Array; fn: Float64Array } {
  const kn = new Int32Array(LAYERS),
    wn = new Float64Array(LAYERS),
    fn = new Float64Array(LAYERS);
  let dn = ZIG_R,
    tn = ZIG_R;
  const q = ZIG_V / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * ZIG_M);
  kn[1] = 0;
  wn[0] = q / ZIG_M;
  wn[LAYERS - 1] = dn / ZIG_M;
  fn[0] = 1;
  fn[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(ZIG_V / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * ZIG_M);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / ZIG_M;
  }
  return { kn, wn, fn };
}

const F = 4;
/** Noise state: four SIMD-lane xoshiro128** streams (16 words) and the slow path's scalar one (4). */
const STATE_WORDS = 20;

export class SgldKernel {
  private readonly ex: Exports;
  private readonly memory: WebAssembly.Memory;
  private readonly hostAlloc: ((floats: number) => number) | null;
  private top = 1024;
  /** Byte offsets. */
  private readonly pW: number;
  private readonly pW0: number;
  private readonly pG: number;
  private readonly pPd: number;
  private readonly pPn: number;
  private readonly pOut: number;
  private readonly pState: number;
  private pRanges = 0;
  private nRanges = 0;
  private rangesCap = 0;
  private gen = -1;
  private views!: { w: Float32Array; w0: Float32Array; g: Float32Array; out: Float64Array; state: Uint32Array };
  private readonly stats: StepStats = { dist2: 0, grad2: 0, drift2: 0, noise2: 0, dU: 0, logQRatio: 0 };

  /**
   * A kernel for flat vectors of `size` parameters, in a memory of its own, or in `host`'s with w and g its
   * parameter and gradient vectors (everything else the kernel holds is allocated there too).
   */
  constructor(
    readonly size: number,
    host?: KernelHost,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`SgldKernel: size must be a positive whole number, got ${size}`);
    const mod = sgldModule();
    this.memory = host?.memory ?? new WebAssembly.Memory({ initial: 1 });
    this.hostAlloc = host ? (n) => host.alloc(n) : null;
    const base = this.alloc(staticBytes),
      stack = this.alloc(STACK_BYTES);
    const i32 = (v: number, mutable = false) => new WebAssembly.Global({ value: 'i32', mutable }, v);
    this.ex = new WebAssembly.Instance(mod, {
      env: {
        memory: this.memory,
        __memory_base: i32(base),
        __stack_pointer: i32(stack + STACK_BYTES, true),
        __table_base: i32(0),
        __indirect_function_table: new WebAssembly.Table({ initial: 0, element: 'anyfunc' }),
      },
    }).exports as unknown as Exports;
    // Statics are zeroed by the allocators (fresh memory) — set the tables and apply the relocations anyway.
    new Uint8Array(this.memory.buffer, base, staticBytes).fill(0);
    this.ex.__wasm_apply_data_relocs();
    const z = zigguratTables();
    new Int32Array(this.memory.buffer, this.ex.zig_kn(), LAYERS).set(z.kn);
    new Float64Array(this.memory.buffer, this.ex.zig_wn(), LAYERS).set(z.wn);
    new Float64Array(this.memory.buffer, this.ex.zig_fn(), LAYERS).set(z.fn);
    this.pW = host ? host.params : this.alloc(size * F);
    this.pW0 = this.alloc(size * F);
    this.pG = host ? host.grads : this.alloc(size * F);
    this.pPd = this.alloc(size * F);
    this.pPn = this.alloc(size * F);
    this.pOut = this.alloc(8 * 8);
    this.pState = this.alloc(STATE_WORDS * 4);
  }

  private alloc(bytes: number): number {
    if (this.hostAlloc) return this.hostAlloc(Math.ceil(bytes / F));
    const p = (this.top + 63) & ~63;
    this.top = p + bytes;
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / 65536));
    return p;
  }

  /** Whether w and g are a host's own vectors (see KernelHost). */
  get hosted(): boolean {
    return this.hostAlloc !== null;
  }

  private v(): SgldKernel['views'] {
    const buf = this.memory.buffer;
    if (this.gen !== buf.byteLength) {
      this.views = {
        w: new Float32Array(buf, this.pW, this.size),
        w0: new Float32Array(buf, this.pW0, this.size),
        g: new Float32Array(buf, this.pG, this.size),
        out: new Float64Array(buf, this.pOut, 8),
        state: new Uint32Array(buf, this.pState, STATE_WORDS),
      };
      this.gen = buf.byteLength;
    }
    return this.views;
  }

  /** The current point (a view: valid until the next setRanges). */
  get w(): Float32Array {
    return this.v().w;
  }
  /** The checkpoint w* the chain is localised at. */
  get w0(): Float32Array {
    return this.v().w0;
  }
  /** Where the target writes ∇L_m(w). */
  get g(): Float32Array {
    return this.v().g;
  }

  /** The coordinates the next steps update (drift and noise): everything else stays bit-identical. */
  setRanges(ranges: Ranges): void {
    if (ranges.length > this.rangesCap) {
      this.rangesCap = Math.max(ranges.length, 2 * this.rangesCap);
      this.pRanges = this.alloc(this.rangesCap * 2 * F);
    }
    const r = new Int32Array(this.memory.buffer, this.pRanges, ranges.length * 2);
    ranges.forEach(([a, b], i) => {
      r[2 * i] = a;
      r[2 * i + 1] = b;
    });
    this.nRanges = ranges.length;
  }

  /**
   * Seeds the noise: four xoshiro128** lanes and the slow path's scalar stream, all from Rng(seed, stream),
   * so the same (seed, stream) gives the same noise.
   */
  seed(seed: number, stream: number): void {
    const r = new Rng(seed, stream),
      s = this.v().state;
    for (let i = 0; i < STATE_WORDS; i++) s[i] = r.nextU32();
    // No generator may start at the all-zero state (lanes are words L, 4+L, 8+L, 12+L; the scalar one 16–19).
    for (let L = 0; L < 4; L++) if ((s[L] | s[4 + L] | s[8 + L] | s[12 + L]) === 0) s[L] = 1;
    if ((s[16] | s[17] | s[18] | s[19]) === 0) s[16] = 1;
  }

  /**
   * One step w ← w − (ε/2)·(nβ·g + γ·(w − w*)) + √ε·ξ over the ranges, with ξ ~ N(0, I) from the seeded
   * stream. `hasPrev`: a previous step of this chain left its drift and noise (for the MALA terms; 0
   * without). The returned record is the kernel's own, overwritten by the next step.
   */
  step(eps: number, nbeta: number, gamma: number, hasPrev: boolean): StepStats {
    this.ex.sgld_step(
      this.pRanges,
      this.nRanges,
      this.pW,
      this.pW0,
      this.pG,
      this.pPd,
      this.pPn,
      eps,
      nbeta,
      gamma,
      hasPrev ? 1 : 0,
      this.pState,
      this.pOut,
    );
    const o = this.v().out,
      st = this.stats;
    st.dist2 = o[0];
    st.grad2 = o[1];
    st.drift2 = o[2];
    st.noise2 = o[3];
    st.dU = o[4];
    st.logQRatio = o[5];
    return st;
  }

  /** Swaps w and w* over `ranges` (twice restores both exactly): a hosted kernel's way to evaluate at w*. */
  swapW0(ranges: Ranges): void {
    const { w, w0 } = this.v();
    for (const [a, b] of ranges)
      for (let i = a; i < b; i++) {
        const t = w[i];
        w[i] = w0[i];
        w0[i] = t;
      }
  }

  /** n standard normal values from the stream (tests, benchmarks). */
  normals(n: number): Float32Array {
    const top = this.top,
      p = this.alloc((n + 4) * F);
    this.ex.fill_normal(p, n, this.pState);
    const out = new Float32Array(this.memory.buffer, p, n).slice();
    this.top = top; // give the scratch back (a host's allocator keeps it)
    return out;
  }

  /** The slow path's exp (which 0), log (which 1) and the wedge test's cheap exp (which 2), for tests. */
  expLog(x: number, which: 0 | 1 | 2): number {
    return this.ex.exp_log(x, which);
  }
}
