// The SGLD sampler's inner loop (src/engine/llc/sampler.ts): one step over the sampled coordinates with
// its Gaussian noise and its diagnostics fused into a single pass. Built by scripts/build-llc-wasm.sh.
//
//   drift_i = nβ·g_i + γ·(w_i − w*_i)                        (devinterp's SGLD, weight decay 0)
//   w_i    ← w_i − (ε/2)·drift_i + √ε·ξ_i,   ξ_i ~ N(0, 1)
//
// Noise: Marsaglia & Tsang's 128-layer ziggurat ("The Ziggurat Method for Generating Random Variables",
// J. Stat. Softw. 2000) over xoshiro128** (Blackman & Vigna), four streams in SIMD lanes. Each 32-bit draw
// is split into disjoint bits, the low 7 for the layer and the upper 25 (signed) for the value. The tables are computed in
// JavaScript (exact Math.exp / Math.log) and written into kn / wn / fn before the first draw.
#include <stdint.h>
#include <wasm_simd128.h>

#define LAYERS 128
static const double R = 3.442619855899;

static int32_t kn[LAYERS];
static double wn[LAYERS];
static double fn[LAYERS];

__attribute__((export_name("zig_kn"))) int32_t *zig_kn(void) { return kn; }
__attribute__((export_name("zig_wn"))) double *zig_wn(void) { return wn; }
__attribute__((export_name("zig_fn"))) double *zig_fn(void) { return fn; }

static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static inline uint32_t next_u32(uint32_t *s) {
  uint32_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 9;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 11);
  return r;
}

// Uniform in (0, 1).
static inline double uni(uint32_t *s) { return ((double)next_u32(s) + 0.5) * (1.0 / 4294967296.0); }

// exp and log for the ziggurat's slow path (freestanding: no libm), which calls exp on [−6, 0] and log on
// (0, 1). exp: x = k·ln2 + r, |r| ≤ ln2/2,
// Taylor to r^14 (error < 1e-17); log: x = m·2^e with m ∈ [√½, √2), log m = 2·atanh((m−1)/(m+1)), odd series
// to s^23 (|s| ≤ 0.172, error < 1e-18).
static double exp_(double x) {
  const double LN2 = 0.6931471805599453;
  double kf = __builtin_floor(x / LN2 + 0.5);
  double r = x - kf * LN2;
  // Σ_{n ≤ 14} r^n / n!, Horner with the coefficients written out (no division in the loop).
  double p = 1.0 / 87178291200.0;
  p = p * r + 1.0 / 6227020800.0; p = p * r + 1.0 / 479001600.0; p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0; p = p * r + 1.0 / 362880.0; p = p * r + 1.0 / 40320.0; p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0; p = p * r + 1.0 / 120.0; p = p * r + 1.0 / 24.0; p = p * r + 1.0 / 6.0;
  p = p * r + 0.5; p = p * r + 1.0; p = p * r + 1.0;
  union { double d; uint64_t u; } v;
  v.u = (uint64_t)((int64_t)kf + 1023) << 52;
  return p * v.d;
}

static double log_(double x) {
  union { double d; uint64_t u; } v = { x };
  int e = (int)((v.u >> 52) & 0x7ff) - 1023;
  v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  // m ∈ [1, 2)
  double m = v.d;
  if (m > 1.4142135623730951) { m *= 0.5; e++; }
  double s = (m - 1) / (m + 1), s2 = s * s;
  // 2·atanh(s) = 2·Σ s^(2k+1) / (2k+1), k ≤ 11, Horner in s².
  double p = 1.0 / 23;
  p = p * s2 + 1.0 / 21; p = p * s2 + 1.0 / 19; p = p * s2 + 1.0 / 17; p = p * s2 + 1.0 / 15; p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11; p = p * s2 + 1.0 / 9; p = p * s2 + 1.0 / 7; p = p * s2 + 1.0 / 5; p = p * s2 + 1.0 / 3; p = p * s2 + 1.0;
  return 2 * s * p + e * 0.6931471805599453;
}

// A cheap exp for the wedge test on [−6, 0]: the same reduction, |r| ≤ ln2/2 + 1e-15, Taylor to r^6
// (relative error < 1.4e-7). It only decides the test when the uniform is clear of it by more than
// EXP_MARGIN; inside that band exp_ decides, so every outcome is exp_'s (same noise, ~half the cost).
#define EXP_MARGIN 1e-6
static inline double exp_cheap(double x) {
  double kf = __builtin_floor(x * 1.4426950408889634 + 0.5);
  double r = x - kf * 0.6931471805599453;
  double p = 1.0 / 720.0;
  p = p * r + 1.0 / 120.0; p = p * r + 1.0 / 24.0; p = p * r + 1.0 / 6.0; p = p * r + 0.5; p = p * r + 1.0;
  p = p * r + 1.0;
  union { double d; uint64_t u; } v;
  v.u = (uint64_t)((int64_t)kf + 1023) << 52;
  return p * v.d;
}

// a < exp_(x), with exp_ evaluated only when the cheap value cannot tell.
static inline int below_exp(double a, double x) {
  const double e = exp_cheap(x);
  if (a < e * (1 - EXP_MARGIN)) return 1;
  if (a > e * (1 + EXP_MARGIN)) return 0;
  return a < exp_(x);
}

// The slow path (≈ 2.8 % of draws): the wedges between layers and the base layer's tail beyond R.
static double normal_slow(uint32_t *s, int32_t j, int iz) {
  for (;;) {
    if (iz == 0) {
      double x, y;
      do { x = -log_(uni(s)) / R; y = -log_(uni(s)); } while (y + y < x * x);
      return j > 0 ? R + x : -R - x;
    }
    double x = j * wn[iz];
    if (below_exp(fn[iz] + uni(s) * (fn[iz - 1] - fn[iz]), -0.5 * x * x)) return x;
    uint32_t u = next_u32(s);
    iz = u & 127; j = ((int32_t)u) >> 7;
    if ((j < 0 ? -j : j) < kn[iz]) return j * wn[iz];
  }
}

// The generator: four xoshiro128** streams stepped together in SIMD lanes (state words 0–15, by word:
// s0 of lanes 0–3, then s1, s2, s3), each output split into layer and value bits as above and tested
// against the layer's bound per lane; the rare slow path draws its uniforms from a fifth, scalar stream
// (words 16–19). Values come out lane-interleaved: lane L gives out[4k + L].
typedef struct { v128_t a, b, c, d; } lanes_t;

static inline v128_t rotlv(v128_t x, int k) { return wasm_v128_or(wasm_i32x4_shl(x, k), wasm_u32x4_shr(x, 32 - k)); }

static inline lanes_t lanes_load(const uint32_t *st) {
  lanes_t g = { wasm_v128_load(st), wasm_v128_load(st + 4), wasm_v128_load(st + 8), wasm_v128_load(st + 12) };
  return g;
}
static inline void lanes_store(uint32_t *st, const lanes_t *g) {
  wasm_v128_store(st, g->a); wasm_v128_store(st + 4, g->b); wasm_v128_store(st + 8, g->c); wasm_v128_store(st + 12, g->d);
}

// One draw of the four lanes → four normals by the fast path, in SIMD: the layer bounds and widths are
// gathered by lane, the value j·wn[iz] is formed in double (f64x2) and rounded to float as the scalar
// (float)(j * wn[iz]) is. *out_of_layer gets bit L for each lane L outside its layer (≈ 11 % of draws
// have one), whose value the caller replaces by the slow path's; j and iz are what that needs.
static inline __attribute__((always_inline)) v128_t normals4_fast(lanes_t *g, v128_t *j_, v128_t *iz_,
                                                                  uint32_t *out_of_layer) {
  const v128_t u = wasm_i32x4_mul(rotlv(wasm_i32x4_mul(g->b, wasm_i32x4_splat(5)), 7), wasm_i32x4_splat(9));
  const v128_t t = wasm_i32x4_shl(g->b, 9);
  g->c = wasm_v128_xor(g->c, g->a); g->d = wasm_v128_xor(g->d, g->b);
  g->b = wasm_v128_xor(g->b, g->c); g->a = wasm_v128_xor(g->a, g->d);
  g->c = wasm_v128_xor(g->c, t); g->d = rotlv(g->d, 11);
  const v128_t iz = wasm_v128_and(u, wasm_i32x4_splat(127)), j = wasm_i32x4_shr(u, 7);
  const int i0 = wasm_i32x4_extract_lane(iz, 0), i1 = wasm_i32x4_extract_lane(iz, 1);
  const int i2 = wasm_i32x4_extract_lane(iz, 2), i3 = wasm_i32x4_extract_lane(iz, 3);
  const v128_t bound = wasm_i32x4_make(kn[i0], kn[i1], kn[i2], kn[i3]);
  *out_of_layer = wasm_i32x4_bitmask(wasm_i32x4_ge(wasm_i32x4_abs(j), bound));
  *j_ = j;
  *iz_ = iz;
  const v128_t lo = wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(j), wasm_f64x2_make(wn[i0], wn[i1]));
  const v128_t hi = wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(j, j, 2, 3, 2, 3)),
                                   wasm_f64x2_make(wn[i2], wn[i3]));
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

#define CHUNK 256

// ⌈m/4⌉ draws of four (m ≤ CHUNK) into out[0, 4·⌈m/4⌉): the fast path for all of them without a branch,
// the lanes outside their layer noted and then replaced by the slow path, in draw and lane order — the
// order the scalar stream was always consumed in, so the values are those of drawing one at a time.
static __attribute__((noinline)) void draw_chunk(lanes_t *g_, uint32_t *slow, float *out, int32_t m) {
  struct { v128_t j, iz; int32_t at; uint32_t mask; } pend[CHUNK / 4];
  lanes_t g = *g_;
  int32_t np = 0;
  for (int32_t i = 0; i < m; i += 4) {
    v128_t j, iz;
    uint32_t mask;
    wasm_v128_store(out + i, normals4_fast(&g, &j, &iz, &mask));
    pend[np].j = j;
    pend[np].iz = iz;
    pend[np].at = i;
    pend[np].mask = mask;
    np += mask != 0;
  }
  *g_ = g;
  for (int32_t p = 0; p < np; p++) {
    int32_t js[4], izs[4];
    wasm_v128_store(js, pend[p].j);
    wasm_v128_store(izs, pend[p].iz);
    for (uint32_t mask = pend[p].mask; mask; mask &= mask - 1) {
      const int L = __builtin_ctz(mask);
      out[pend[p].at + L] = (float)normal_slow(slow, js[L], izs[L]);
    }
  }
}

// n standard normal values into out (the SGLD noise, tests and benchmarks). Lanes past n are drawn and
// dropped, so a draw of n values leaves the stream where ⌈n/4⌉ draws of four do.
__attribute__((export_name("fill_normal"))) void fill_normal(float *out, int32_t n, uint32_t *st) {
  lanes_t g = lanes_load(st);
  float buf[CHUNK];
  for (int32_t i = 0; i < n; i += CHUNK) {
    const int32_t m = n - i < CHUNK ? n - i : CHUNK;
    draw_chunk(&g, st + 16, buf, m);
    for (int32_t q = 0; q < m; q++) out[i + q] = buf[q];
  }
  lanes_store(st, &g);
}

// A test hook for the slow path's exp (which 0), log (1) and the wedge test's cheap exp (2).
__attribute__((export_name("exp_log"))) double exp_log(double x, int32_t which) {
  return which == 1 ? log_(x) : which == 2 ? exp_cheap(x) : exp_(x);
}

// One SGLD step over the coordinates [ranges[2r], ranges[2r+1]) of w (current point), w0 (the checkpoint
// w*) and g (∇L_m at w). pd / pn hold the previous step's drift and noise (for the MALA ratio of the
// transition into w when has_prev) and receive this step's. One pass: the noise for every sampled
// coordinate, in range order, is drawn CHUNK values at a time into a buffer that stays in L1 (the values
// and their order are those of one fill_normal of all of them), and the update and the sums run four
// coordinates at a time in float32 SIMD, the sums carried in double between blocks of 256. Writes to out:
//   [0] Σ (w − w*)²   [1] Σ g²   [2] Σ drift²   [3] Σ ξ² (new noise)
//   [4] ΔU ≈ Σ ½(drift_prev + drift)·(w − w_prev)        (trapezoid rule; exact for a quadratic U)
//   [5] log q(w_prev | w) − log q(w | w_prev) = Σ c·ξ_prev·(drift_prev + drift) − c²·(drift_prev + drift)²/2,
//       c = √ε/2  (q: the Langevin proposal N(w − (ε/2)·drift(w), ε·I); written without the cancelling
//       ξ² terms so no precision is lost)
// [4] and [5] are 0 without a previous step.
#define SUMS 6
static inline double hsum(v128_t v) {
  return (double)wasm_f32x4_extract_lane(v, 0) + (double)wasm_f32x4_extract_lane(v, 1)
       + (double)wasm_f32x4_extract_lane(v, 2) + (double)wasm_f32x4_extract_lane(v, 3);
}

// The noise buffer, refilled before each block of the update (never inside one, so nothing of the block
// is live across the call): the unread rest moves to the front and CHUNK values at a time are drawn after
// it (a multiple of four except the last, so the four-lane draws fall as in one fill of all values) until
// `need` are unread. `left` values are still to draw.
typedef struct { float buf[2 * CHUNK + 8]; int32_t left; lanes_t g; uint32_t *slow; } noise_t;

// Returns the new `have`; the unread values then start at 0.
static __attribute__((noinline)) int32_t noise_refill(noise_t *z, int32_t k, int32_t have, int32_t need) {
  int32_t n = have - k;
  for (int32_t r = 0; r < n; r++) z->buf[r] = z->buf[k + r];
  while (n < need && z->left > 0) {
    const int32_t m = z->left < CHUNK ? z->left : CHUNK;
    draw_chunk(&z->g, z->slow, z->buf + n, m);
    z->left -= m;
    n += m;
  }
  return n;
}

static inline __attribute__((always_inline)) void step_ranges(
    const int32_t *ranges, int32_t n_ranges, float *w, const float *w0, const float *g, float *pd, float *pn,
    noise_t *z, float half, float root, float c, float cc, float nb, float ga, const int has_prev, double *acc) {
  const v128_t vh = wasm_f32x4_splat(half), vr = wasm_f32x4_splat(root), vc = wasm_f32x4_splat(c), vcc = wasm_f32x4_splat(cc);
  const v128_t vnb = wasm_f32x4_splat(nb), vga = wasm_f32x4_splat(ga), vhalf = wasm_f32x4_splat(0.5f), zero = wasm_f32x4_splat(0.0f);
  const float *buf = z->buf;
  int32_t k = 0, have = 0;  // buf[k, have): drawn, not yet used
  for (int32_t r = 0; r < n_ranges; r++) {
    int32_t i = ranges[2 * r];
    const int32_t e = ranges[2 * r + 1];
    while (i + 4 <= e) {
      const int32_t need = (e - i) / 4 < 64 ? 4 * ((e - i) / 4) : 256;  // this block's noise
      if (have - k < need) { have = noise_refill(z, k, have, need); k = 0; }
      v128_t a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero;
      for (int32_t blk = 0; blk < 64 && i + 4 <= e; blk++, i += 4) {
        const v128_t wi = wasm_v128_load(w + i), dev = wasm_f32x4_sub(wi, wasm_v128_load(w0 + i)), gi = wasm_v128_load(g + i);
        const v128_t di = wasm_f32x4_add(wasm_f32x4_mul(vnb, gi), wasm_f32x4_mul(vga, dev));
        const v128_t x = wasm_v128_load(buf + k);
        k += 4;
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(dev, dev));
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(gi, gi));
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(di, di));
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(x, x));
        if (has_prev) {
          const v128_t p = wasm_v128_load(pd + i), xp = wasm_v128_load(pn + i), sum = wasm_f32x4_add(p, di);
          a4 = wasm_f32x4_add(a4, wasm_f32x4_mul(wasm_f32x4_mul(vhalf, sum), wasm_f32x4_sub(wasm_f32x4_mul(vr, xp), wasm_f32x4_mul(vh, p))));
          a5 = wasm_f32x4_add(a5, wasm_f32x4_sub(wasm_f32x4_mul(wasm_f32x4_mul(vc, xp), sum), wasm_f32x4_mul(vcc, wasm_f32x4_mul(sum, sum))));
        }
        wasm_v128_store(w + i, wasm_f32x4_add(wasm_f32x4_sub(wi, wasm_f32x4_mul(vh, di)), wasm_f32x4_mul(vr, x)));
        wasm_v128_store(pd + i, di);
        wasm_v128_store(pn + i, x);
      }
      acc[0] += hsum(a0); acc[1] += hsum(a1); acc[2] += hsum(a2); acc[3] += hsum(a3);
      if (has_prev) { acc[4] += hsum(a4); acc[5] += hsum(a5); }
    }
    for (; i < e; i++) {
      if (have == k) { have = noise_refill(z, k, have, 1); k = 0; }
      const float wi = w[i], dev = wi - w0[i], gi = g[i], di = nb * gi + ga * dev, x = buf[k++];
      acc[0] += (double)(dev * dev); acc[1] += (double)(gi * gi); acc[2] += (double)(di * di); acc[3] += (double)(x * x);
      if (has_prev) {
        const float p = pd[i], xp = pn[i], sum = p + di;
        acc[4] += (double)(0.5f * sum * (root * xp - half * p));
        acc[5] += (double)(c * xp * sum - cc * sum * sum);
      }
      w[i] = (wi - half * di) + root * x;
      pd[i] = di;
      pn[i] = x;
    }
  }
}

__attribute__((export_name("sgld_step")))
void sgld_step(const int32_t *ranges, int32_t n_ranges, float *w, const float *w0, const float *g, float *pd, float *pn,
               double eps, double nbeta, double gamma, int32_t has_prev, uint32_t *st, double *out) {
  const float half = (float)(0.5 * eps), root = (float)__builtin_sqrt(eps), c = 0.5f * root, cc = 0.5f * c * c;
  const float nb = (float)nbeta, ga = (float)gamma;
  noise_t z;
  z.left = 0;
  for (int32_t r = 0; r < n_ranges; r++) z.left += ranges[2 * r + 1] - ranges[2 * r];
  z.g = lanes_load(st);
  z.slow = st + 16;
  double acc[SUMS] = {0, 0, 0, 0, 0, 0};
  if (has_prev) step_ranges(ranges, n_ranges, w, w0, g, pd, pn, &z, half, root, c, cc, nb, ga, 1, acc);
  else step_ranges(ranges, n_ranges, w, w0, g, pd, pn, &z, half, root, c, cc, nb, ga, 0, acc);
  lanes_store(st, &z.g);
  for (int k = 0; k < SUMS; k++) out[k] = acc[k];
}
