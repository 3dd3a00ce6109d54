/**
 * Row-major float32 matrix products for host-side measure code, on the fast engine's WebAssembly GEMM
 * (fast/gemm.ts): the shortcuts' shared products over a whole chunk (measures/pathShortcut.ts), which plain
 * JavaScript loops compute ≈ 10× slower. One kernel instance per process, its memory grown as needed.
 */
import { Kernels, loadKernels } from '../fast/kernels';
import { gemm, rowMajor, rows } from '../fast/gemm';

let kern: Kernels | null = null;

/** C[M, N] = A[M, K] · B[K, N] (B as float64 or float32), a new Float32Array. */
export function matmul(a: Float32Array, b: ArrayLike<number>, M: number, K: number, N: number): Float32Array {
  kern ??= loadKernels('auto');
  const align = (n: number) => (n + 63) & ~63;
  const pa = align(kern.heapBase),
    pb = align(pa + 4 * M * K),
    pc = align(pb + 4 * K * N),
    end = pc + 4 * M * N;
  const need = end - kern.memory.buffer.byteLength;
  if (need > 0) kern.memory.grow(Math.ceil(need / 65536));
  const heap = new Float32Array(kern.memory.buffer);
  heap.set(a.subarray(0, M * K), pa / 4);
  const bv = heap.subarray(pb / 4, pb / 4 + K * N);
  for (let i = 0; i < K * N; i++) bv[i] = b[i];
  gemm(kern.k, { M, N, K, A: rows(pa, K), B: rowMajor(pb, N), C: rowMajor(pc, N) });
  return heap.slice(pc / 4, pc / 4 + M * N);
}

/**
 * C_p[M, N] = A[:, pK … pK + K) · B_p[K, N] for each panel p: column block p of A (row-major, leading dimension
 * lda) times its own B_p; one copy of A into the kernel's memory for all panels.
 */
export function matmulPanels(
  a: Float32Array,
  lda: number,
  panels: readonly Float32Array[],
  M: number,
  K: number,
  N: number,
): Float32Array[] {
  kern ??= loadKernels('auto');
  const align = (n: number) => (n + 63) & ~63;
  const pa = align(kern.heapBase),
    pb = align(pa + 4 * M * lda),
    pc = align(pb + 4 * K * N * panels.length),
    end = pc + 4 * M * N * panels.length;
  const need = end - kern.memory.buffer.byteLength;
  if (need > 0) kern.memory.grow(Math.ceil(need / 65536));
  const heap = new Float32Array(kern.memory.buffer);
  heap.set(a.subarray(0, M * lda), pa / 4);
  panels.forEach((b, p) => heap.set(b.subarray(0, K * N), pb / 4 + p * K * N));
  return panels.map((_, p) => {
    const c = pc + 4 * p * M * N;
    gemm(kern!.k, { M, N, K, A: rows(pa + 4 * p * K, lda), B: rowMajor(pb + 4 * p * K * N, N), C: rowMajor(c, N) });
    return heap.slice(c / 4, c / 4 + M * N);
  });
}
