/**
 * The RoPE tables of spec §2.1 (interleaved pairs, GPT-J style), shared by both engines:
 *   θ_{p,i} = p / base^{2i/D},  cos[p, 2i] = cos[p, 2i+1] = cos θ_{p,i},  sin likewise,
 * so that rot(x)[2i] = x[2i]·cos − x[2i+1]·sin and rot(x)[2i+1] = x[2i+1]·cos + x[2i]·sin.
 */
export interface RopeTables {
  /** [T, D] row-major, each pair's value duplicated. */
  cos: Float32Array;
  sin: Float32Array;
}

export function ropeTables(T: number, D: number, base: number): RopeTables {
  const cos = new Float32Array(T * D),
    sin = new Float32Array(T * D);
  for (let p = 0; p < T; p++)
    for (let i = 0; i < D / 2; i++) {
      const theta = p / Math.pow(base, (2 * i) / D);
      cos[p * D + 2 * i] = cos[p * D + 2 * i + 1] = Math.cos(theta);
      sin[p * D + 2 * i] = sin[p * D + 2 * i + 1] = Math.sin(theta);
    }
  return { cos, sin };
}
