/*
 * Compute kernels of the fast training path (src/engine/fast/model.ts orchestrates them).
 *
 * Built by scripts/build-wasm.sh with Debian's clang (--target=wasm32 -msimd128 -nostdlib), twice:
 * plain SIMD128 and, with -DRELAXED, relaxed-SIMD fused multiply-add in the GEMM micro-kernel. The
 * module imports its memory; JavaScript owns the layout and passes byte offsets as pointers. No libc,
 * no allocation, no global state except the GEMM packing scratch pointer.
 *
 * Conventions: row-wise kernels act on [B, T, X] buffers, rows r = b·T + t with t in [t0, T) (t0 = T−1
 * computes only the query position); head-major kernels act on [B·H, T, X] the same way.
 */
#include <wasm_simd128.h>

typedef float f32;
typedef double f64;
typedef unsigned char u8;
typedef int i32;
typedef unsigned int u32;

#define EXPORT(n) __attribute__((export_name(#n)))
#define INLINE static inline __attribute__((always_inline))

#ifdef RELAXED
#define MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif
#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store(p, v)
#define BC(p) wasm_v128_load32_splat(p)
#define ZERO wasm_f32x4_splat(0.f)

EXPORT(variant) i32 variant(void) {
#ifdef RELAXED
  return 1;
#else
  return 0;
#endif
}

/* ------------------------------------------------------------------------------------------------ */
/* GEMM: C[M,N] = (acc ? C : 0) + A·B, A(i,k) = A[i·ra + k·ca], B(k,j) = B[k·ldb + j], C row-major.   */
/* 4×8 register blocks over a column-major A panel (4 rows adjacent per k). A is used in place when    */
/* it is already column-major (ra = 1, as in the weight gradients dYᵀ·X); otherwise each 4-row panel   */
/* is packed into the scratch buffer first (zero-padded for a tail of fewer than 4 rows).             */
/* ------------------------------------------------------------------------------------------------ */

INLINE f32 hsum(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}
#define VADD wasm_f32x4_add
#define VSUB wasm_f32x4_sub
#define VMUL wasm_f32x4_mul
#define VSPLAT wasm_f32x4_splat

static f32* scratch = 0;
EXPORT(set_scratch) void set_scratch(f32* p) { scratch = p; }

/* c[r, 0..8) (+)= Σ_k a[k·ca + r] · b[k·ldb + 0..8) for r < R (rows ≥ R computed but not stored). */
INLINE void mk4x8(int K, const f32* a, int ca, const f32* b, int ldb, f32* c, int ldc, int R, int acc) {
  v128_t c00 = ZERO, c01 = ZERO, c10 = ZERO, c11 = ZERO, c20 = ZERO, c21 = ZERO, c30 = ZERO, c31 = ZERO;
  for (int k = 0; k < K; k++) {
    v128_t b0 = LD(b), b1 = LD(b + 4), x;
    x = BC(a + 0); c00 = MADD(x, b0, c00); c01 = MADD(x, b1, c01);
    x = BC(a + 1); c10 = MADD(x, b0, c10); c11 = MADD(x, b1, c11);
    x = BC(a + 2); c20 = MADD(x, b0, c20); c21 = MADD(x, b1, c21);
    x = BC(a + 3); c30 = MADD(x, b0, c30); c31 = MADD(x, b1, c31);
    a += ca; b += ldb;
  }
  if (acc) {
    c00 = wasm_f32x4_add(c00, LD(c)); c01 = wasm_f32x4_add(c01, LD(c + 4));
    if (R > 1) { c10 = wasm_f32x4_add(c10, LD(c + ldc)); c11 = wasm_f32x4_add(c11, LD(c + ldc + 4)); }
    if (R > 2) { c20 = wasm_f32x4_add(c20, LD(c + 2 * ldc)); c21 = wasm_f32x4_add(c21, LD(c + 2 * ldc + 4)); }
    if (R > 3) { c30 = wasm_f32x4_add(c30, LD(c + 3 * ldc)); c31 = wasm_f32x4_add(c31, LD(c + 3 * ldc + 4)); }
  }
  ST(c, c00); ST(c + 4, c01);
  if (R > 1) { ST(c + ldc, c10); ST(c + ldc + 4, c11); }
  if (R > 2) { ST(c + 2 * ldc, c20); ST(c + 2 * ldc + 4, c21); }
  if (R > 3) { ST(c + 3 * ldc, c30); ST(c + 3 * ldc + 4, c31); }
}

INLINE void mk4x4(int K, const f32* a, int ca, const f32* b, int ldb, f32* c, int ldc, int R, int acc) {
  v128_t c0 = ZERO, c1 = ZERO, c2 = ZERO, c3 = ZERO;
  for (int k = 0; k < K; k++) {
    v128_t b0 = LD(b);
    c0 = MADD(BC(a + 0), b0, c0); c1 = MADD(BC(a + 1), b0, c1);
    c2 = MADD(BC(a + 2), b0, c2); c3 = MADD(BC(a + 3), b0, c3);
    a += ca; b += ldb;
  }
  if (acc) {
    c0 = wasm_f32x4_add(c0, LD(c));
    if (R > 1) c1 = wasm_f32x4_add(c1, LD(c + ldc));
    if (R > 2) c2 = wasm_f32x4_add(c2, LD(c + 2 * ldc));
    if (R > 3) c3 = wasm_f32x4_add(c3, LD(c + 3 * ldc));
  }
  ST(c, c0);
  if (R > 1) ST(c + ldc, c1);
  if (R > 2) ST(c + 2 * ldc, c2);
  if (R > 3) ST(c + 3 * ldc, c3);
}

/* Columns j0..N (fewer than 4): plain dot products. */
INLINE void mk_tail(int K, const f32* a, int ca, const f32* B, int ldb, int j0, int N, f32* C, int ldc, int R, int acc) {
  for (int r = 0; r < R; r++)
    for (int j = j0; j < N; j++) {
      f32 s = 0.f;
      const f32* ak = a + r; const f32* bk = B + j;
      for (int k = 0; k < K; k++) { s += *ak * *bk; ak += ca; bk += ldb; }
      C[r * ldc + j] = acc ? C[r * ldc + j] + s : s;
    }
}

EXPORT(gemm) void gemm(int M, int N, int K, const f32* A, int ra, int ca, const f32* B, int ldb, f32* C, int ldc, int acc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!acc) for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) C[i * ldc + j] = 0.f;
    return;
  }
  for (int i = 0; i < M; i += 4) {
    const int R = M - i < 4 ? M - i : 4;
    const f32* a; int pca;
    if (ra == 1 && R == 4) { a = A + i; pca = ca; }
    else {
      /* Pack rows i..i+R of A into scratch[k·4 + r], zero-padding rows ≥ R. */
      f32* p = scratch;
      for (int r = 0; r < 4; r++) {
        if (r < R) { const f32* src = A + (i + r) * ra; for (int k = 0; k < K; k++) p[k * 4 + r] = src[k * ca]; }
        else for (int k = 0; k < K; k++) p[k * 4 + r] = 0.f;
      }
      a = scratch; pca = 4;
    }
    f32* c = C + i * ldc;
    int j = 0;
    for (; j + 8 <= N; j += 8) mk4x8(K, a, pca, B + j, ldb, c + j, ldc, R, acc);
    for (; j + 4 <= N; j += 4) mk4x4(K, a, pca, B + j, ldb, c + j, ldc, R, acc);
    if (j < N) mk_tail(K, a, pca, B, ldb, j, N, c, ldc, R, acc);
  }
}

/* C[M,N] (+)= A·Bᵀ for A [M,K] and B [N,K] row-major (lda, ldb): dot products over contiguous k, 2×4 blocks
   of SIMD partial sums. Used for X·Wᵀ with a long K (the exemplar projection), where it needs no transpose
   of W and no packing of X. */
INLINE f32 dot_tail(const f32* a, const f32* b, int k0, int K) { f32 s = 0.f; for (int k = k0; k < K; k++) s += a[k] * b[k]; return s; }

EXPORT(gemm_nt) void gemm_nt(int M, int N, int K, const f32* A, int lda, const f32* B, int ldb, f32* C, int ldc, int acc) {
  const int K4 = K & ~3;
  int i = 0;
  for (; i + 2 <= M; i += 2) {
    const f32* a0 = A + i * lda; const f32* a1 = a0 + lda;
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      const f32* b0 = B + j * ldb; const f32* b1 = b0 + ldb; const f32* b2 = b1 + ldb; const f32* b3 = b2 + ldb;
      v128_t s00 = ZERO, s01 = ZERO, s02 = ZERO, s03 = ZERO, s10 = ZERO, s11 = ZERO, s12 = ZERO, s13 = ZERO;
      for (int k = 0; k < K4; k += 4) {
        const v128_t x0 = LD(a0 + k), x1 = LD(a1 + k);
        v128_t w = LD(b0 + k); s00 = MADD(x0, w, s00); s10 = MADD(x1, w, s10);
        w = LD(b1 + k); s01 = MADD(x0, w, s01); s11 = MADD(x1, w, s11);
        w = LD(b2 + k); s02 = MADD(x0, w, s02); s12 = MADD(x1, w, s12);
        w = LD(b3 + k); s03 = MADD(x0, w, s03); s13 = MADD(x1, w, s13);
      }
      f32* c0 = C + i * ldc + j; f32* c1 = c0 + ldc;
      const f32 r00 = hsum(s00) + dot_tail(a0, b0, K4, K), r01 = hsum(s01) + dot_tail(a0, b1, K4, K);
      const f32 r02 = hsum(s02) + dot_tail(a0, b2, K4, K), r03 = hsum(s03) + dot_tail(a0, b3, K4, K);
      const f32 r10 = hsum(s10) + dot_tail(a1, b0, K4, K), r11 = hsum(s11) + dot_tail(a1, b1, K4, K);
      const f32 r12 = hsum(s12) + dot_tail(a1, b2, K4, K), r13 = hsum(s13) + dot_tail(a1, b3, K4, K);
      if (acc) { c0[0] += r00; c0[1] += r01; c0[2] += r02; c0[3] += r03; c1[0] += r10; c1[1] += r11; c1[2] += r12; c1[3] += r13; }
      else { c0[0] = r00; c0[1] = r01; c0[2] = r02; c0[3] = r03; c1[0] = r10; c1[1] = r11; c1[2] = r12; c1[3] = r13; }
    }
    for (; j < N; j++) {
      const f32* b0 = B + j * ldb;
      v128_t s0 = ZERO, s1 = ZERO;
      for (int k = 0; k < K4; k += 4) { const v128_t w = LD(b0 + k); s0 = MADD(LD(a0 + k), w, s0); s1 = MADD(LD(a1 + k), w, s1); }
      const f32 r0 = hsum(s0) + dot_tail(a0, b0, K4, K), r1 = hsum(s1) + dot_tail(a1, b0, K4, K);
      if (acc) { C[i * ldc + j] += r0; C[(i + 1) * ldc + j] += r1; } else { C[i * ldc + j] = r0; C[(i + 1) * ldc + j] = r1; }
    }
  }
  for (; i < M; i++) {
    const f32* a0 = A + i * lda;
    for (int j = 0; j < N; j++) {
      const f32* b0 = B + j * ldb;
      v128_t s0 = ZERO;
      for (int k = 0; k < K4; k += 4) s0 = MADD(LD(a0 + k), LD(b0 + k), s0);
      const f32 r = hsum(s0) + dot_tail(a0, b0, K4, K);
      C[i * ldc + j] = acc ? C[i * ldc + j] + r : r;
    }
  }
}

/* dst[c·rows + r] = src[r·cols + c] */
/* 4×4 blocks, in tiles of 64 rows × 64 columns so the stores of a tile stay within 64 short spans of dst
   (a tall source — [B·T, d] activations — otherwise writes every column's row of dst per 4 source rows). */
EXPORT(transpose) void transpose(const f32* src, int rows, int cols, f32* dst) {
  const int R4 = rows & ~3, C4 = cols & ~3;
  for (int r0 = 0; r0 < R4; r0 += 64) {
    const int r1 = r0 + 64 < R4 ? r0 + 64 : R4;
    for (int c0 = 0; c0 < C4; c0 += 64) {
      const int c1 = c0 + 64 < C4 ? c0 + 64 : C4;
      for (int r = r0; r < r1; r += 4) for (int c = c0; c < c1; c += 4) {
        v128_t x0 = wasm_v128_load(src + r * cols + c), x1 = wasm_v128_load(src + (r + 1) * cols + c);
        v128_t x2 = wasm_v128_load(src + (r + 2) * cols + c), x3 = wasm_v128_load(src + (r + 3) * cols + c);
        v128_t t0 = wasm_i32x4_shuffle(x0, x1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(x0, x1, 2, 6, 3, 7);
        v128_t t2 = wasm_i32x4_shuffle(x2, x3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(x2, x3, 2, 6, 3, 7);
        wasm_v128_store(dst + c * rows + r, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
        wasm_v128_store(dst + (c + 1) * rows + r, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
        wasm_v128_store(dst + (c + 2) * rows + r, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
        wasm_v128_store(dst + (c + 3) * rows + r, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
      }
    }
    for (int r = r0; r < r1; r++) for (int c = C4; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  }
  for (int r = R4; r < rows; r++) for (int c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

/* ------------------------------------------------------------------------------------------------ */
/* Small elementwise helpers                                                                         */
/* ------------------------------------------------------------------------------------------------ */

EXPORT(fill) void fill(f32* p, int n, f32 v) { for (int i = 0; i < n; i++) p[i] = v; }

EXPORT(copy) void copy(const f32* src, f32* dst, int n) { for (int i = 0; i < n; i++) dst[i] = src[i]; }

/* y += a·x over n floats (a = ±1 adds or removes a head's output exactly as one addition). */
EXPORT(axpy) void axpy(f32* y, const f32* x, int n, f32 a) { for (int i = 0; i < n; i++) y[i] += a * x[i]; }

/* Override: buf = where(mask, val, buf). */
EXPORT(where_apply) void where_apply(f32* buf, const f32* val, const u8* mask, int n) {
  for (int i = 0; i < n; i++) buf[i] = mask[i] ? val[i] : buf[i];
}

/* Gradient through an override: entries that were replaced pass no gradient upstream. */
EXPORT(grad_mask) void grad_mask(f32* g, const u8* mask, int n) {
  for (int i = 0; i < n; i++) g[i] = mask[i] ? 0.f : g[i];
}

/* y[r·ld + j] += b[j] for r < rows */
EXPORT(add_bias) void add_bias(f32* y, int ld, const f32* b, int rows, int d) {
  for (int r = 0; r < rows; r++) for (int j = 0; j < d; j++) y[r * ld + j] += b[j];
}

/* out[j] (+)= Σ_r x[r·ld + j] */
EXPORT(col_sum) void col_sum(const f32* x, int ld, int rows, int d, f32* out, int acc) {
  if (!acc) for (int j = 0; j < d; j++) out[j] = 0.f;
  for (int r = 0; r < rows; r++) for (int j = 0; j < d; j++) out[j] += x[r * ld + j];
}

/* out[r] = src[map[r]] (rows of d floats) */
EXPORT(gather_rows) void gather_rows(const f32* src, const i32* map, int n, int d, f32* out) {
  for (int r = 0; r < n; r++) { const f32* s = src + map[r] * d; f32* o = out + r * d; for (int j = 0; j < d; j++) o[j] = s[j]; }
}

/* out[map[r]] += src[r] */
EXPORT(scatter_add_rows) void scatter_add_rows(const f32* src, const i32* map, int n, int d, f32* out) {
  for (int r = 0; r < n; r++) { const f32* s = src + r * d; f32* o = out + map[r] * d; for (int j = 0; j < d; j++) o[j] += s[j]; }
}

/* out[r] += a[r] (rows t in [t0, T) of [B, T, d]) */
EXPORT(add_rows) void add_rows(const f32* a, const f32* b, f32* out, int B, int T, int t0, int d) {
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int o = (bb * T + t) * d;
    for (int j = 0; j < d; j++) out[o + j] = a[o + j] + b[o + j];
  }
}

/* Label embedding: out[n, :] = W[:, y_n] for W [d, L] (the one-hot matmul, exactly). */
EXPORT(embed_label) void embed_label(const i32* y, int n, const f32* W, int L, int d, f32* out) {
  for (int r = 0; r < n; r++) for (int o = 0; o < d; o++) out[r * d + o] = W[o * L + y[r]];
}

/* dW[:, y_n] += dout[n, :] */
EXPORT(embed_label_bwd) void embed_label_bwd(const i32* y, int n, const f32* dout, int L, int d, f32* dW) {
  for (int r = 0; r < n; r++) for (int o = 0; o < d; o++) dW[o * L + y[r]] += dout[r * d + o];
}

/* Hash of each row's bits (to find identical exemplar vectors): four FNV-1a lanes over words k ≡ 0..3 (mod 4). */
EXPORT(hash_rows) void hash_rows(const u32* x, int rows, int dim, u32* out) {
  const v128_t prime = wasm_i32x4_splat(16777619);
  for (int r = 0; r < rows; r++) {
    const u32* p = x + r * dim;
    v128_t h = wasm_i32x4_make((int)2166136261u, (int)0x9e3779b9u, (int)0x85ebca6bu, (int)0xc2b2ae35u);
    int k = 0;
    for (; k + 4 <= dim; k += 4) h = wasm_i32x4_mul(wasm_v128_xor(h, wasm_v128_load(p + k)), prime);
    u32 h0 = (u32)wasm_i32x4_extract_lane(h, 0), h1 = (u32)wasm_i32x4_extract_lane(h, 1);
    u32 h2 = (u32)wasm_i32x4_extract_lane(h, 2), h3 = (u32)wasm_i32x4_extract_lane(h, 3);
    for (; k < dim; k++) h0 = (h0 ^ p[k]) * 16777619u;
    out[r] = (h0 ^ (h1 * 31u) ^ (h2 * 961u) ^ (h3 * 29791u)) * 2654435761u;
  }
}

EXPORT(rows_equal) i32 rows_equal(const u32* a, const u32* b, int dim) {
  int k = 0;
  for (; k + 4 <= dim; k += 4) if (!wasm_i32x4_all_true(wasm_i32x4_eq(wasm_v128_load(a + k), wasm_v128_load(b + k)))) return 0;
  for (; k < dim; k++) if (a[k] != b[k]) return 0;
  return 1;
}

/* ------------------------------------------------------------------------------------------------ */
/* LayerNorm over the last axis (ε inside the square root, biased variance), rows [t0, T) of [B,T,d].*/
/* stats[2·row] = mean, stats[2·row+1] = 1/sqrt(var + ε).                                            */
/* ------------------------------------------------------------------------------------------------ */

INLINE void ln_fwd_row(const f32* xr, f32* yr, f32* st, const f32* g, const f32* be, int d, f32 inv, f32 eps) {
  f32 mean, var;
  if ((d & 3) == 0) {
    v128_t a = ZERO;
    for (int j = 0; j < d; j += 4) a = VADD(a, LD(xr + j));
    mean = hsum(a) * inv;
    const v128_t m = VSPLAT(mean);
    v128_t v = ZERO;
    for (int j = 0; j < d; j += 4) { const v128_t c = VSUB(LD(xr + j), m); v = VADD(v, VMUL(c, c)); }
    var = hsum(v) * inv;
  } else {
    f32 s = 0.f;
    for (int j = 0; j < d; j++) s += xr[j];
    mean = s * inv;
    f32 v = 0.f;
    for (int j = 0; j < d; j++) { const f32 c = xr[j] - mean; v += c * c; }
    var = v * inv;
  }
  const f32 rstd = 1.f / __builtin_sqrtf(var + eps);
  st[0] = mean; st[1] = rstd;
  int j = 0;
  if ((d & 3) == 0) {
    const v128_t m = VSPLAT(mean), r = VSPLAT(rstd);
    for (; j < d; j += 4) ST(yr + j, VADD(VMUL(VMUL(VSUB(LD(xr + j), m), r), LD(g + j)), LD(be + j)));
  }
  for (; j < d; j++) yr[j] = (xr[j] - mean) * rstd * g[j] + be[j];
}

EXPORT(ln_fwd) void ln_fwd(const f32* x, f32* y, f32* stats, const f32* g, const f32* be, int B, int T, int t0, int d, f32 eps) {
  const f32 inv = 1.f / (f32)d;
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int row = bb * T + t;
    ln_fwd_row(x + row * d, y + row * d, stats + 2 * row, g, be, d, inv, eps);
  }
}

/* dx (=|+=) LN backward of dy; dg += Σ dy·x̂; db += Σ dy. */
EXPORT(ln_bwd) void ln_bwd(const f32* x, const f32* dy, const f32* stats, const f32* g, f32* dx, f32* dg, f32* db,
                           int B, int T, int t0, int d, int acc) {
  const f32 inv = 1.f / (f32)d;
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int row = bb * T + t;
    const f32* xr = x + row * d; const f32* dyr = dy + row * d; f32* dxr = dx + row * d;
    const f32 mean = stats[2 * row], rstd = stats[2 * row + 1];
    if ((d & 3) == 0) {
      const v128_t m = VSPLAT(mean), r = VSPLAT(rstd);
      v128_t a1 = ZERO, a2 = ZERO;
      for (int j = 0; j < d; j += 4) {
        const v128_t xh = VMUL(VSUB(LD(xr + j), m), r), dyv = LD(dyr + j), dxh = VMUL(dyv, LD(g + j));
        a1 = VADD(a1, dxh); a2 = VADD(a2, VMUL(dxh, xh));
        ST(dg + j, VADD(LD(dg + j), VMUL(dyv, xh))); ST(db + j, VADD(LD(db + j), dyv));
      }
      const v128_t s1 = VSPLAT(hsum(a1) * inv), s2 = VSPLAT(hsum(a2) * inv);
      for (int j = 0; j < d; j += 4) {
        const v128_t xh = VMUL(VSUB(LD(xr + j), m), r);
        const v128_t v = VMUL(r, VSUB(VSUB(VMUL(LD(dyr + j), LD(g + j)), s1), VMUL(xh, s2)));
        ST(dxr + j, acc ? VADD(LD(dxr + j), v) : v);
      }
      continue;
    }
    f32 s1 = 0.f, s2 = 0.f;
    for (int j = 0; j < d; j++) {
      const f32 xh = (xr[j] - mean) * rstd, dxh = dyr[j] * g[j];
      s1 += dxh; s2 += dxh * xh;
      dg[j] += dyr[j] * xh; db[j] += dyr[j];
    }
    s1 *= inv; s2 *= inv;
    for (int j = 0; j < d; j++) {
      const f32 xh = (xr[j] - mean) * rstd;
      const f32 v = rstd * (dyr[j] * g[j] - s1 - xh * s2);
      dxr[j] = acc ? dxr[j] + v : v;
    }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Heads                                                                                              */
/* ------------------------------------------------------------------------------------------------ */

INLINE void copyD(const f32* s, f32* o, int D) {
  int e = 0;
  for (; e + 4 <= D; e += 4) ST(o + e, LD(s + e));
  for (; e < D; e++) o[e] = s[e];
}
INLINE void addD(const f32* s, f32* o, int D) {
  int e = 0;
  for (; e + 4 <= D; e += 4) ST(o + e, VADD(LD(o + e), LD(s + e)));
  for (; e < D; e++) o[e] += s[e];
}

/* out[b,h,t,e] = src[map(b,t)·ld + off + h·D + e] for t in [t0, T); map = identity when null. */
EXPORT(to_heads) void to_heads(const f32* src, int ld, int off, const i32* map, f32* out, int B, int T, int t0, int H, int D) {
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int tok = bb * T + t;
    const f32* s = src + (map ? map[tok] : tok) * ld + off;
    f32* o = out + (bb * H * T + t) * D;
    if (D == 8) for (int h = 0; h < H; h++) { ST(o + h * T * 8, LD(s + h * 8)); ST(o + h * T * 8 + 4, LD(s + h * 8 + 4)); }
    else for (int h = 0; h < H; h++) copyD(s + h * D, o + h * T * D, D);
  }
}

/* dst[map(b,t)·ld + off + h·D + e] (=|+=) src[b,h,t,e]; add = 1 accumulates (needed with a map). */
EXPORT(from_heads) void from_heads(const f32* src, f32* dst, int ld, int off, const i32* map, int B, int T, int t0, int H, int D, int add) {
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int tok = bb * T + t;
    f32* o = dst + (map ? map[tok] : tok) * ld + off;
    const f32* s = src + (bb * H * T + t) * D;
    if (add) for (int h = 0; h < H; h++) addD(s + h * T * D, o + h * D, D);
    else if (D == 8) for (int h = 0; h < H; h++) { ST(o + h * 8, LD(s + h * T * 8)); ST(o + h * 8 + 4, LD(s + h * T * 8 + 4)); }
    else for (int h = 0; h < H; h++) copyD(s + h * T * D, o + h * D, D);
  }
}

/* Interleaved RoPE: y[2i] = x[2i]·cos − x[2i+1]·sin, y[2i+1] = x[2i+1]·cos + x[2i]·sin (inverse = 1: the
   transpose, for the backward pass). cs/sn [T, D]. In place is allowed. */
EXPORT(rope) void rope(const f32* x, f32* y, const f32* cs, const f32* sn, int BH, int T, int t0, int D, int inverse) {
  const f32 sg = inverse ? -1.f : 1.f;
  if ((D & 3) == 0) {
    const v128_t sgn = wasm_f32x4_make(-sg, sg, -sg, sg);
    for (int bh = 0; bh < BH; bh++) for (int t = t0; t < T; t++) {
      const f32* xr = x + (bh * T + t) * D; f32* yr = y + (bh * T + t) * D;
      const f32* c = cs + t * D; const f32* s = sn + t * D;
      for (int e = 0; e < D; e += 4) {
        const v128_t v = LD(xr + e), sw = wasm_i32x4_shuffle(v, v, 1, 0, 3, 2);
        ST(yr + e, VADD(VMUL(v, LD(c + e)), VMUL(sw, VMUL(sgn, LD(s + e)))));
      }
    }
    return;
  }
  for (int bh = 0; bh < BH; bh++) for (int t = t0; t < T; t++) {
    const f32* xr = x + (bh * T + t) * D; f32* yr = y + (bh * T + t) * D;
    const f32* c = cs + t * D; const f32* s = sn + t * D;
    for (int e = 0; e < D; e += 2) {
      const f32 a = xr[e], b = xr[e + 1];
      yr[e] = a * c[e] + b * (-sg * s[e]);
      yr[e + 1] = b * c[e + 1] + a * (sg * s[e + 1]);
    }
  }
}

/* Fused to_heads + rope: rot[b,h,t] = RoPE_t(src row (b,t), head h); raw (if not null) gets the unrotated copy. */
EXPORT(to_heads_rope) void to_heads_rope(const f32* src, int ld, int off, const i32* map, f32* raw, f32* rot, const f32* cs, const f32* sn,
                                         int B, int T, int t0, int H, int D) {
  if ((D & 3) != 0) {
    f32* dst = raw ? raw : rot;
    to_heads(src, ld, off, map, dst, B, T, t0, H, D);
    rope(dst, rot, cs, sn, B * H, T, t0, D, 0);
    return;
  }
  const v128_t sgn = wasm_f32x4_make(-1.f, 1.f, -1.f, 1.f);
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int tok = bb * T + t;
    const f32* s = src + (map ? map[tok] : tok) * ld + off;
    const f32* c = cs + t * D; const f32* sv = sn + t * D;
    for (int h = 0; h < H; h++) {
      const int o = ((bb * H + h) * T + t) * D;
      for (int e = 0; e < D; e += 4) {
        const v128_t v = LD(s + h * D + e), sw = wasm_i32x4_shuffle(v, v, 1, 0, 3, 2);
        if (raw) ST(raw + o + e, v);
        ST(rot + o + e, VADD(VMUL(v, LD(c + e)), VMUL(sw, VMUL(sgn, LD(sv + e)))));
      }
    }
  }
}

/* Fused inverse rope + from_heads for the backward pass: dst row (b,t), head h (=|+=) RoPE_tᵀ(src[b,h,t]). */
EXPORT(rope_from_heads) void rope_from_heads(const f32* src, const f32* cs, const f32* sn, f32* dst, int ld, int off, const i32* map,
                                             int B, int T, int t0, int H, int D, int add) {
  if ((D & 3) != 0) {
    /* rope in place is allowed, but src must stay intact for callers: the generic path is only for odd head dims */
    rope(src, (f32*)src, cs, sn, B * H, T, t0, D, 1);
    from_heads(src, dst, ld, off, map, B, T, t0, H, D, add);
    return;
  }
  const v128_t sgn = wasm_f32x4_make(1.f, -1.f, 1.f, -1.f);
  for (int bb = 0; bb < B; bb++) for (int t = t0; t < T; t++) {
    const int tok = bb * T + t;
    f32* o = dst + (map ? map[tok] : tok) * ld + off;
    const f32* c = cs + t * D; const f32* sv = sn + t * D;
    for (int h = 0; h < H; h++) {
      const f32* x = src + ((bb * H + h) * T + t) * D;
      for (int e = 0; e < D; e += 4) {
        const v128_t v = LD(x + e), sw = wasm_i32x4_shuffle(v, v, 1, 0, 3, 2);
        const v128_t y = VADD(VMUL(v, LD(c + e)), VMUL(sw, VMUL(sgn, LD(sv + e))));
        ST(o + h * D + e, add ? VADD(LD(o + h * D + e), y) : y);
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------------ */
/* Attention                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

/* dot of D floats (D % 4 == 0 uses SIMD) */
INLINE f32 dotD(const f32* a, const f32* b, int D) {
  if ((D & 3) == 0) {
    v128_t acc = VMUL(LD(a), LD(b));
    for (int e = 4; e < D; e += 4) acc = VADD(acc, VMUL(LD(a + e), LD(b + e)));
    return hsum(acc);
  }
  f32 s = 0.f;
  for (int e = 0; e < D; e++) s += a[e] * b[e];
  return s;
}
/* o += w·a over D floats */
INLINE void axpyD(f32 w, const f32* a, f32* o, int D) {
  int e = 0;
  if ((D & 3) == 0) { const v128_t wv = VSPLAT(w); for (; e < D; e += 4) ST(o + e, VADD(LD(o + e), VMUL(wv, LD(a + e)))); }
  for (; e < D; e++) o[e] += w * a[e];
}
INLINE void zeroD(f32* o, int n) {
  int e = 0;
  for (; e + 4 <= n; e += 4) ST(o + e, ZERO);
  for (; e < n; e++) o[e] = 0.f;
}

/* s[bh,i,j] = (q_i·k_j)·scale for j ≤ i, −1e20 for j > i (= S·M + (1−M)·(−1e20)), query rows [t0, T). */
INLINE void attn_scores_impl(const f32* q, const f32* k, f32* s, int BH, int T, int t0, int D, f32 scale) {
  for (int bh = 0; bh < BH; bh++) {
    const f32* qb = q + bh * T * D; const f32* kb = k + bh * T * D; f32* sb = s + bh * T * T;
    for (int i = t0; i < T; i++) {
      const f32* qi = qb + i * D;
      for (int j = 0; j <= i; j++) sb[i * T + j] = dotD(qi, kb + j * D, D) * scale;
      for (int j = i + 1; j < T; j++) sb[i * T + j] = -1e20f;
    }
  }
}
EXPORT(attn_scores) void attn_scores(const f32* q, const f32* k, f32* s, int BH, int T, int t0, int D, f32 scale) {
  if (D == 8) attn_scores_impl(q, k, s, BH, T, t0, 8, scale); else attn_scores_impl(q, k, s, BH, T, t0, D, scale);
}

/* exp for f32: Cephes expf (Cody–Waite reduction, degree-6 polynomial, ≈1 ulp); y·2^n as two exact power-of-2
   products so subnormal results come out right. Scalar and SIMD versions give identical bits. */
#define EXP_LO -103.972084f
#define EXP_HI 88.7228394f
INLINE f32 expf_(f32 x) {
  if (x < EXP_LO) return 0.f;
  if (x > EXP_HI) return __builtin_inff();
  const f32 n = __builtin_nearbyintf(x * 1.44269504088896341f);
  const f32 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  f32 p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const f32 y = p * (r * r) + r + 1.f;
  const int ni = (int)n, n1 = ni >> 1, n2 = ni - n1;
  union { u32 u; f32 f; } a, b; a.u = (u32)(n1 + 127) << 23; b.u = (u32)(n2 + 127) << 23;
  return (y * a.f) * b.f;
}
INLINE v128_t expf4(v128_t x) {
  const v128_t lo = VSPLAT(EXP_LO), hi = VSPLAT(EXP_HI);
  /* NaN lanes: neither under nor over, so they propagate as NaN like the scalar version. */
  const v128_t under = wasm_f32x4_lt(x, lo), over = wasm_f32x4_gt(x, hi);
  /* Lanes that underflow compute exp(0) and are zeroed at the end: clamping them to EXP_LO instead would
     produce subnormal intermediates, which cost a microcode assist per lane on x86 (masked scores are −1e20). */
  const v128_t xc = wasm_v128_bitselect(ZERO, wasm_f32x4_min(x, hi), under);
  const v128_t n = wasm_f32x4_nearest(VMUL(xc, VSPLAT(1.44269504088896341f)));
  const v128_t r = VSUB(VSUB(xc, VMUL(n, VSPLAT(0.693359375f))), VMUL(n, VSPLAT(-2.12194440e-4f)));
  v128_t p = VSPLAT(1.9875691500e-4f);
  p = VADD(VMUL(p, r), VSPLAT(1.3981999507e-3f));
  p = VADD(VMUL(p, r), VSPLAT(8.3334519073e-3f));
  p = VADD(VMUL(p, r), VSPLAT(4.1665795894e-2f));
  p = VADD(VMUL(p, r), VSPLAT(1.6666665459e-1f));
  p = VADD(VMUL(p, r), VSPLAT(5.0000001201e-1f));
  const v128_t y = VADD(VADD(VMUL(p, VMUL(r, r)), r), VSPLAT(1.f));
  const v128_t ni = wasm_i32x4_trunc_sat_f32x4(n), n1 = wasm_i32x4_shr(ni, 1), n2 = wasm_i32x4_sub(ni, n1);
  const v128_t bias = wasm_i32x4_splat(127);
  const v128_t a = wasm_i32x4_shl(wasm_i32x4_add(n1, bias), 23), b = wasm_i32x4_shl(wasm_i32x4_add(n2, bias), 23);
  v128_t out = VMUL(VMUL(y, a), b);
  out = wasm_v128_bitselect(ZERO, out, under);
  return wasm_v128_bitselect(VSPLAT(__builtin_inff()), out, over);
}

EXPORT(exp_f32) f32 exp_f32(f32 x) { return expf_(x); }
EXPORT(exp_f32x4) void exp_f32x4(const f32* x, f32* y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) ST(y + i, expf4(LD(x + i)));
  for (; i < n; i++) y[i] = expf_(x[i]);
}


INLINE void exp_bulk(f32* x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) ST(x + i, expf4(LD(x + i)));
  for (; i < n; i++) x[i] = expf_(x[i]);
}

/* p = softmax over the last axis of s (rows [t0, T)): shift by the row max, exponentiate every needed row in
   one SIMD sweep, normalise. */
EXPORT(softmax) void softmax(const f32* s, f32* p, int BH, int T, int t0) {
  for (int bh = 0; bh < BH; bh++) for (int i = t0; i < T; i++) {
    const f32* sr = s + (bh * T + i) * T; f32* pr = p + (bh * T + i) * T;
    f32 m = sr[0];
    for (int j = 1; j < T; j++) m = sr[j] > m ? sr[j] : m;
    for (int j = 0; j < T; j++) pr[j] = sr[j] - m;
  }
  if (t0 == 0) exp_bulk(p, BH * T * T);
  else for (int bh = 0; bh < BH; bh++) exp_bulk(p + (bh * T + t0) * T, (T - t0) * T);
  for (int bh = 0; bh < BH; bh++) for (int i = t0; i < T; i++) {
    f32* pr = p + (bh * T + i) * T;
    f32 sum = 0.f;
    for (int j = 0; j < T; j++) sum += pr[j];
    const f32 inv = 1.f / sum;
    for (int j = 0; j < T; j++) pr[j] = pr[j] * inv;
  }
}

/* ds = p ⊙ (dp − Σ_j p·dp) with p the computed softmax output. */
EXPORT(softmax_bwd) void softmax_bwd(const f32* p, const f32* dp, f32* ds, int BH, int T, int t0) {
  for (int bh = 0; bh < BH; bh++) for (int i = t0; i < T; i++) {
    const int o = (bh * T + i) * T;
    f32 dot = 0.f;
    for (int j = 0; j < T; j++) dot += p[o + j] * dp[o + j];
    for (int j = 0; j < T; j++) ds[o + j] = p[o + j] * (dp[o + j] - dot);
  }
}

/* z[bh,i] = Σ_j p[bh,i,j] v[bh,j] over every key (an overridden pattern may attend anywhere). */
INLINE void attn_z_impl(const f32* p, const f32* v, f32* z, int BH, int T, int t0, int D) {
  for (int bh = 0; bh < BH; bh++) {
    const f32* pb = p + bh * T * T; const f32* vb = v + bh * T * D; f32* zb = z + bh * T * D;
    for (int i = t0; i < T; i++) {
      f32* zi = zb + i * D;
      zeroD(zi, D);
      for (int j = 0; j < T; j++) axpyD(pb[i * T + j], vb + j * D, zi, D);
    }
  }
}
EXPORT(attn_z) void attn_z(const f32* p, const f32* v, f32* z, int BH, int T, int t0, int D) {
  if (D == 8) attn_z_impl(p, v, z, BH, T, t0, 8); else attn_z_impl(p, v, z, BH, T, t0, D);
}

/* dp[i,j] = dz_i·v_j (rows [t0,T)); dv_j = Σ_{i in [t0,T)} p[i,j] dz_i (dv overwritten). */
INLINE void attn_z_bwd_impl(const f32* p, const f32* v, const f32* dz, f32* dp, f32* dv, int BH, int T, int t0, int D) {
  for (int bh = 0; bh < BH; bh++) {
    const f32* pb = p + bh * T * T; const f32* vb = v + bh * T * D; const f32* dzb = dz + bh * T * D;
    f32* dpb = dp + bh * T * T; f32* dvb = dv + bh * T * D;
    zeroD(dvb, T * D);
    for (int i = t0; i < T; i++) {
      const f32* dzi = dzb + i * D;
      for (int j = 0; j < T; j++) {
        dpb[i * T + j] = dotD(dzi, vb + j * D, D);
        axpyD(pb[i * T + j], dzi, dvb + j * D, D);
      }
    }
  }
}
EXPORT(attn_z_bwd) void attn_z_bwd(const f32* p, const f32* v, const f32* dz, f32* dp, f32* dv, int BH, int T, int t0, int D) {
  if (D == 8) attn_z_bwd_impl(p, v, dz, dp, dv, BH, T, t0, 8); else attn_z_bwd_impl(p, v, dz, dp, dv, BH, T, t0, D);
}

/* A block's attention forward only, straight from its fused qkv rows (row map[b·T+t] of qkv, or b·T+t without
   a map), for heads of D = 8, H a multiple of 4 and T ≤ 8: per sequence the rotated queries and keys (RoPE),
   the causal scores s_ij = (R_i q_i)·(R_j k_j)·scale, p = softmax over the row, and merged[b,i,h·8…] =
   Σ_j p_ij v_j. Four heads at a time, one per SIMD lane (their 8-wide rows transposed), so that no step needs
   a horizontal sum. Every lane does the operations to_heads_rope → attn_scores → softmax → attn_z →
   from_heads do, in their order (the dot product's pairing of hsum, masked keys at −1e20 then exact zeros),
   so the bits are theirs (for finite values); nothing goes through [B,H,T,·] buffers in memory. patt (optional): the pattern
   [B,H,T,T]. */
INLINE void transpose4(v128_t* r0, v128_t* r1, v128_t* r2, v128_t* r3) {
  const v128_t t0 = wasm_i32x4_shuffle(*r0, *r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(*r2, *r3, 0, 4, 1, 5);
  const v128_t t2 = wasm_i32x4_shuffle(*r0, *r1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(*r2, *r3, 2, 6, 3, 7);
  *r0 = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5); *r1 = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7);
  *r2 = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5); *r3 = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7);
}
/* x[e] (lane = head) ← src[h·8 + e] for the four heads from src. */
INLINE void load_heads4(const f32* src, v128_t* x) {
  for (int half = 0; half < 2; half++) {
    v128_t a = LD(src + 4 * half), b = LD(src + 8 + 4 * half), c = LD(src + 16 + 4 * half), d = LD(src + 24 + 4 * half);
    transpose4(&a, &b, &c, &d);
    x[4 * half] = a; x[4 * half + 1] = b; x[4 * half + 2] = c; x[4 * half + 3] = d;
  }
}
/* RoPE of x in place at position t: rot_e = x_e·c_e + x_{e^1}·(±s_e), as to_heads_rope computes it. */
INLINE void rope_heads4(v128_t* x, const f32* c, const f32* sn) {
  v128_t y[8];
  for (int e = 0; e < 8; e++) {
    const f32 sg = (e & 1) ? sn[e] : -sn[e];
    y[e] = VADD(VMUL(x[e], VSPLAT(c[e])), VMUL(x[e ^ 1], VSPLAT(sg)));
  }
  for (int e = 0; e < 8; e++) x[e] = y[e];
}
INLINE void attn_fused_impl(const f32* qkv, int ld, const i32* map, const f32* cs, const f32* sn, f32* merged,
                            f32* patt, int B, int T, int H, f32 scale) {
  const int d = H * 8;
  const v128_t lo = VSPLAT(EXP_LO), masked = VSPLAT(-1e20f), sc = VSPLAT(scale), one = VSPLAT(1.f);
  v128_t rk[8][8], v[8][8], q[8], e[8];
  for (int bb = 0; bb < B; bb++) for (int h0 = 0; h0 < H; h0 += 4) {
    for (int t = 0; t < T; t++) {
      const int tok = bb * T + t;
      const f32* s = qkv + (map ? map[tok] : tok) * ld + h0 * 8;
      load_heads4(s + d, rk[t]);
      rope_heads4(rk[t], cs + t * 8, sn + t * 8);
      load_heads4(s + 2 * d, v[t]);
    }
    for (int i = 0; i < T; i++) {
      const int tok = bb * T + i;
      load_heads4(qkv + (map ? map[tok] : tok) * ld + h0 * 8, q);
      rope_heads4(q, cs + i * 8, sn + i * 8);
      /* s_ij = (((p0+p4) + (p2+p6)) + ((p1+p5) + (p3+p7)))·scale: dotD's products paired as hsum pairs them. */
      for (int j = 0; j <= i; j++) {
        const v128_t* k = rk[j];
        v128_t p[8];
        for (int x = 0; x < 8; x++) p[x] = VMUL(q[x], k[x]);
        const v128_t a = VADD(VADD(p[0], p[4]), VADD(p[2], p[6])), b = VADD(VADD(p[1], p[5]), VADD(p[3], p[7]));
        e[j] = VMUL(VADD(a, b), sc);
      }
      for (int j = i + 1; j < T; j++) e[j] = masked;
      v128_t m = e[0];
      for (int j = 1; j < T; j++) m = wasm_v128_bitselect(e[j], m, wasm_f32x4_gt(e[j], m));
      v128_t sum = ZERO;
      int nz = i + 1; /* keys with a nonzero weight in some lane: the causal ones, unless a masked one is not 0 */
      for (int j = 0; j < T; j++) {
        const v128_t x = VSUB(e[j], m);
        /* A masked key's exp is exactly 0 when every lane underflows (as expf4 makes it; unless a score is ≈ 1e20). */
        if (j > i && wasm_i32x4_all_true(wasm_f32x4_lt(x, lo))) e[j] = ZERO;
        else {
          e[j] = expf4(x);
          if (j > i) nz = j + 1;
        }
        sum = VADD(sum, e[j]);
      }
      const v128_t inv = wasm_f32x4_div(one, sum);
      for (int j = 0; j < T; j++) e[j] = VMUL(e[j], inv);
      if (patt) {
        f32 lane[4];
        for (int j = 0; j < T; j++) {
          ST(lane, e[j]);
          for (int hh = 0; hh < 4; hh++) patt[((bb * H + h0 + hh) * T + i) * T + j] = lane[hh];
        }
      }
      v128_t z[8];
      for (int x = 0; x < 8; x++) z[x] = ZERO;
      /* Keys of weight exactly 0 add 0·v = ±0 to z, which changes no bit of it (v finite): they are skipped. */
      for (int j = 0; j < nz; j++)
        for (int x = 0; x < 8; x++) z[x] = VADD(z[x], VMUL(e[j], v[j][x]));
      f32* o = merged + tok * d + h0 * 8;
      for (int half = 0; half < 2; half++) {
        v128_t a = z[4 * half], b = z[4 * half + 1], c = z[4 * half + 2], dd = z[4 * half + 3];
        transpose4(&a, &b, &c, &dd);
        ST(o + 4 * half, a); ST(o + 8 + 4 * half, b); ST(o + 16 + 4 * half, c); ST(o + 24 + 4 * half, dd);
      }
    }
  }
}
EXPORT(attn_fused) void attn_fused(const f32* qkv, int ld, const i32* map, const f32* cs, const f32* sn, f32* merged,
                                   f32* patt, int B, int T, int H, f32 scale) {
  if (T == 5) attn_fused_impl(qkv, ld, map, cs, sn, merged, patt, B, 5, H, scale);
  else attn_fused_impl(qkv, ld, map, cs, sn, merged, patt, B, T, H, scale);
}

/* The last block's values at the query, pooled before the value projection (v_j = W_v z_j is linear):
   Y[b,h,:] = Σ_j p[b,h,T−1,j] · Z[b,j,:] (Z the LayerNorm output, rows of d floats), so that
   z[b,h,T−1] = W_v,h · Y[b,h] needs D·d multiply-adds per (b,h) instead of T·D·d for every v. */
EXPORT(attn_pool) void attn_pool(const f32* p, const f32* Z, f32* Y, int B, int H, int T, int d) {
  for (int bb = 0; bb < B; bb++) for (int h = 0; h < H; h++) {
    f32* y = Y + (bb * H + h) * d;
    const f32* pr = p + ((bb * H + h) * T + T - 1) * T;
    zeroD(y, d);
    for (int j = 0; j < T; j++) axpyD(pr[j], Z + (bb * T + j) * d, y, d);
  }
}

/* dp[b,h,T−1,j] = dY[b,h]·Z[b,j] (dY = W_v,hᵀ dz: the gradient of Y). */
EXPORT(attn_pool_dp) void attn_pool_dp(const f32* Z, const f32* dY, f32* dp, int B, int H, int T, int d) {
  for (int bb = 0; bb < B; bb++) for (int h = 0; h < H; h++) {
    const f32* dy = dY + (bb * H + h) * d;
    f32* dpr = dp + ((bb * H + h) * T + T - 1) * T;
    for (int j = 0; j < T; j++) dpr[j] = dotD(dy, Z + (bb * T + j) * d, d);
  }
}

/* dZ[b,j] += Σ_h p[b,h,T−1,j] dY[b,h] */
EXPORT(attn_pool_dz) void attn_pool_dz(const f32* p, const f32* dY, f32* dZ, int B, int H, int T, int d) {
  for (int bb = 0; bb < B; bb++) for (int h = 0; h < H; h++) {
    const f32* dy = dY + (bb * H + h) * d;
    const f32* pr = p + ((bb * H + h) * T + T - 1) * T;
    for (int j = 0; j < T; j++) axpyD(pr[j], dy, dZ + (bb * T + j) * d, d);
  }
}

/* Through the scale and the causal mask (dS = ds·M·scale): dq_i = Σ_{j≤i} dS_ij k_j,
   dk_j = Σ_{i≥j, i in [t0,T)} dS_ij q_i (dq rows [t0,T) and all of dk overwritten). */
INLINE void attn_scores_bwd_impl(const f32* ds, const f32* q, const f32* k, f32* dq, f32* dk, int BH, int T, int t0, int D, f32 scale) {
  for (int bh = 0; bh < BH; bh++) {
    const f32* dsb = ds + bh * T * T; const f32* qb = q + bh * T * D; const f32* kb = k + bh * T * D;
    f32* dqb = dq + bh * T * D; f32* dkb = dk + bh * T * D;
    zeroD(dkb, T * D);
    for (int i = t0; i < T; i++) {
      f32* dqi = dqb + i * D; const f32* qi = qb + i * D;
      zeroD(dqi, D);
      for (int j = 0; j <= i; j++) {
        const f32 w = dsb[i * T + j] * scale;
        axpyD(w, kb + j * D, dqi, D);
        axpyD(w, qi, dkb + j * D, D);
      }
    }
  }
}
EXPORT(attn_scores_bwd) void attn_scores_bwd(const f32* ds, const f32* q, const f32* k, f32* dq, f32* dk, int BH, int T, int t0, int D, f32 scale) {
  if (D == 8) attn_scores_bwd_impl(ds, q, k, dq, dk, BH, T, t0, 8, scale); else attn_scores_bwd_impl(ds, q, k, dq, dk, BH, T, t0, D, scale);
}

/* ------------------------------------------------------------------------------------------------ */
/* Adam, bit-identical to src/engine/train/adam.ts (double arithmetic, float32 storage, no FMA).      */
/* ------------------------------------------------------------------------------------------------ */

EXPORT(adam) void adam(f32* p, f32* m, f32* v, const f32* g, int n, f64 b1, f64 b2, f64 omb1, f64 omb2, f64 lr, f64 c1, f64 c2, f64 eps) {
  int i = 0;
  const v128_t B1 = wasm_f64x2_splat(b1), B2 = wasm_f64x2_splat(b2), O1 = wasm_f64x2_splat(omb1), O2 = wasm_f64x2_splat(omb2);
  const v128_t LR = wasm_f64x2_splat(lr), C1 = wasm_f64x2_splat(c1), C2 = wasm_f64x2_splat(c2), EPS = wasm_f64x2_splat(eps);
#define F64(ptr) wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(ptr))
#define F32(ptr, x) wasm_v128_store64_lane(ptr, wasm_f32x4_demote_f64x2_zero(x), 0)
  for (; i + 2 <= n; i += 2) {
    const v128_t gi = F64(g + i);
    F32(m + i, wasm_f64x2_add(wasm_f64x2_mul(B1, F64(m + i)), wasm_f64x2_mul(O1, gi)));
    F32(v + i, wasm_f64x2_add(wasm_f64x2_mul(B2, F64(v + i)), wasm_f64x2_mul(wasm_f64x2_mul(O2, gi), gi)));
    const v128_t num = wasm_f64x2_mul(LR, wasm_f64x2_div(F64(m + i), C1));
    const v128_t den = wasm_f64x2_add(wasm_f64x2_sqrt(wasm_f64x2_div(F64(v + i), C2)), EPS);
    F32(p + i, wasm_f64x2_sub(F64(p + i), wasm_f64x2_div(num, den)));
  }
#undef F64
#undef F32
  for (; i < n; i++) {
    const f64 gi = (f64)g[i];
    m[i] = (f32)(b1 * (f64)m[i] + omb1 * gi);
    v[i] = (f32)(b2 * (f64)v[i] + omb2 * gi * gi);
    p[i] = (f32)((f64)p[i] - (lr * ((f64)m[i] / c1)) / (__builtin_sqrt((f64)v[i] / c2) + eps));
  }
}

/* The update in float32 arithmetic, as PyTorch's Adam computes it: p −= (lr/c1) · m / (√v / √c2 + ε), with
   lr/c1 and 1/√c2 precomputed (step = lr/c1, rs2 = 1/√c2): one square root and one division per element. */
EXPORT(adam_f32) void adam_f32(f32* p, f32* m, f32* v, const f32* g, int n, f32 b1, f32 b2, f32 omb1, f32 omb2, f32 step, f32 rs2, f32 eps) {
  int i = 0;
  const v128_t B1 = VSPLAT(b1), B2 = VSPLAT(b2), O1 = VSPLAT(omb1), O2 = VSPLAT(omb2), S = VSPLAT(step), R2 = VSPLAT(rs2), EPS = VSPLAT(eps);
  for (; i + 4 <= n; i += 4) {
    const v128_t gi = LD(g + i);
    const v128_t mi = VADD(VMUL(B1, LD(m + i)), VMUL(O1, gi));
    const v128_t vi = VADD(VMUL(B2, LD(v + i)), VMUL(VMUL(O2, gi), gi));
    ST(m + i, mi); ST(v + i, vi);
    ST(p + i, VSUB(LD(p + i), wasm_f32x4_div(VMUL(S, mi), VADD(VMUL(wasm_f32x4_sqrt(vi), R2), EPS))));
  }
  for (; i < n; i++) {
    const f32 gi = g[i];
    m[i] = b1 * m[i] + omb1 * gi;
    v[i] = b2 * v[i] + omb2 * gi * gi;
    p[i] = p[i] - (step * m[i]) / (__builtin_sqrtf(v[i]) * rs2 + eps);
  }
}
