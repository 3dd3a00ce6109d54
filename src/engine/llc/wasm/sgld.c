// The SGLD sampler's inner loop (src/engine/llc/sampler.ts): one step over the sampled coordinates with
// its Gaussian noise and its diagnostics fused into a single pass. Built by scripts/build-llc-wasm.sh.
//
//   drift_i = nβ·g_i + γ·(w_i − w*_i)                        (devinterp's SGLD, weight decay 0)
//   w_i    ← w_i − (ε/2)·drift_i + √ε·ξ_i,   ξ_i ~ N(0, 1)
//
// Noise: Marsaglia & Tsang's 128-layer ziggurat ("The Ziggurat Method for Generating Random Variables",
// J. Stat. Softw. 2000) over xoshiro128** (Blackman & Vigna). Each 32-bit draw is split into disjoint
// bits, the low 7 for the layer and the upper 25 (signed) for the value. The tables are computed in
// JavaScript (exact Math.exp / Math.log) and written into kn / wn / fn before the first draw.
#include <stdint.h>

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
  double r = x - kf * LN2, term = 1.0, sum = 1.0;
  for (int n = 1; n <= 14; n++) { term *= r / n; sum += term; }
  union { double d; uint64_t u; } v;
  v.u = (uint64_t)((int64_t)kf + 1023) << 52;
  return sum * v.d;
}

static double log_(double x) {
  union { double d; uint64_t u; } v = { x };
  int e = (int)((v.u >> 52) & 0x7ff) - 1023;
  v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  // m ∈ [1, 2)
  double m = v.d;
  if (m > 1.4142135623730951) { m *= 0.5; e++; }
  double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0.0;
  for (int n = 1; n <= 23; n += 2) { sum += term / n; term *= s2; }
  return 2 * sum + e * 0.6931471805599453;
}

// The slow path (≈ 2.7 % of draws): the wedges between layers and the base layer's tail beyond R.
static double normal_slow(uint32_t *s, int32_t j, int iz) {
  for (;;) {
    if (iz == 0) {
      double x, y;
      do { x = -log_(uni(s)) / R; y = -log_(uni(s)); } while (y + y < x * x);
      return j > 0 ? R + x : -R - x;
    }
    double x = j * wn[iz];
    if (fn[iz] + uni(s) * (fn[iz - 1] - fn[iz]) < exp_(-0.5 * x * x)) return x;
    uint32_t u = next_u32(s);
    iz = u & 127; j = ((int32_t)u) >> 7;
    if ((j < 0 ? -j : j) < kn[iz]) return j * wn[iz];
  }
}

static inline double normal(uint32_t *s) {
  uint32_t u = next_u32(s);
  int iz = u & 127;
  int32_t j = ((int32_t)u) >> 7;
  if ((j < 0 ? -j : j) < kn[iz]) return j * wn[iz];
  return normal_slow(s, j, iz);
}

// n standard normal values into out (tests and benchmarks).
__attribute__((export_name("fill_normal"))) void fill_normal(float *out, int32_t n, uint32_t *s) {
  for (int32_t i = 0; i < n; i++) out[i] = (float)normal(s);
}

// A test hook for the slow path's exp and log.
__attribute__((export_name("exp_log"))) double exp_log(double x, int32_t which) { return which ? log_(x) : exp_(x); }

// One SGLD step over the coordinates [ranges[2r], ranges[2r+1]) of w (current point), w0 (the checkpoint
// w*) and g (∇L_m at w). pd / pn hold the previous step's drift and noise (for the MALA ratio of the
// transition into w when has_prev) and receive this step's. Writes to out:
//   [0] Σ (w − w*)²   [1] Σ g²   [2] Σ drift²   [3] Σ ξ² (new noise)
//   [4] ΔU ≈ Σ ½(drift_prev + drift)·(w − w_prev)        (trapezoid rule; exact for a quadratic U)
//   [5] log q(w_prev | w) − log q(w | w_prev) = Σ c·ξ_prev·(drift_prev + drift) − c²·(drift_prev + drift)²/2,
//       c = √ε/2  (q: the Langevin proposal N(w − (ε/2)·drift(w), ε·I); written without the cancelling
//       ξ² terms so no precision is lost)
__attribute__((export_name("sgld_step")))
void sgld_step(const int32_t *ranges, int32_t n_ranges, float *w, const float *w0, const float *g, float *pd, float *pn,
               double eps, double nbeta, double gamma, int32_t has_prev, uint32_t *s, double *out) {
  const double half = 0.5 * eps, root = __builtin_sqrt(eps), c = 0.5 * root;
  double dist2 = 0, g2 = 0, drift2 = 0, xi2 = 0, dU = 0, lq = 0;
  for (int32_t r = 0; r < n_ranges; r++) {
    for (int32_t i = ranges[2 * r], e = ranges[2 * r + 1]; i < e; i++) {
      const double wi = w[i], dev = wi - w0[i], gi = g[i];
      const double di = nbeta * gi + gamma * dev;
      dist2 += dev * dev; g2 += gi * gi; drift2 += di * di;
      if (has_prev) {
        const double p = pd[i], xp = pn[i], sum = p + di;
        dU += 0.5 * sum * (-half * p + root * xp);
        lq += c * xp * sum - 0.5 * c * c * sum * sum;
      }
      const double xi = normal(s);
      xi2 += xi * xi;
      w[i] = (float)(wi - half * di + root * xi);
      pd[i] = (float)di;
      pn[i] = (float)xi;
    }
  }
  out[0] = dist2; out[1] = g2; out[2] = drift2; out[3] = xi2; out[4] = dU; out[5] = lq;
}
