/**
 * The GEMM kernels with named operands instead of eleven positional numbers. Offsets are bytes (layout.ts
 * `at(ptr, i)` = float i of a buffer); strides are in floats.
 *
 *   gemm:   C[M, N] (+)= A[M, K] · B[K, N], A(i, k) = A.at[i·A.row + k·A.col], B and C row-major
 *   gemmNT: C[M, N] (+)= A[M, K] · B[N, K]ᵀ, A and B row-major (a long K: the exemplar projection)
 */
import type { KernelExports } from './kernels';

/** A (possibly transposed) operand: element (i, k) at `at` + (i·row + k·col) floats. */
export interface Strided {
  at: number;
  row: number;
  col: number;
}
/** A row-major matrix: element (i, j) at `at` + (i·ld + j) floats. */
export interface RowMajor {
  at: number;
  ld: number;
}

/** Rows of a row-major matrix (leading dimension ld) as an A operand. */
export const rows = (at: number, ld: number): Strided => ({ at, row: ld, col: 1 });
/** The transpose of a row-major matrix (leading dimension ld) as an A operand. */
export const transposed = (at: number, ld: number): Strided => ({ at, row: 1, col: ld });
export const rowMajor = (at: number, ld: number): RowMajor => ({ at, ld });

export interface GemmArgs {
  M: number;
  N: number;
  K: number;
  A: Strided;
  B: RowMajor;
  C: RowMajor;
  accumulate?: boolean;
}

export function gemm(k: KernelExports, g: GemmArgs): void {
  k.gemm(g.M, g.N, g.K, g.A.at, g.A.row, g.A.col, g.B.at, g.B.ld, g.C.at, g.C.ld, g.accumulate ? 1 : 0);
}

export function gemmNT(
  k: KernelExports,
  g: { M: number; N: number; K: number; A: RowMajor; B: RowMajor; C: RowMajor; accumulate?: boolean },
): void {
  k.gemm_nt(g.M, g.N, g.K, g.A.at, g.A.ld, g.B.at, g.B.ld, g.C.at, g.C.ld, g.accumulate ? 1 : 0);
}
