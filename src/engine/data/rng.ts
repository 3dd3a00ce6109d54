/**
 * Seeded pseudo-random numbers. Every random draw in the engine (data, init, sampling) goes through
 * this so that a run is reproducible bit-for-bit from its seeds. xoshiro128** seeded by splitmix32.
 */
export class Rng {
  // The xoshiro state in a typed array: uint32 values above 2^30 in plain fields are heap numbers, and every
  // draw stored four of them (≈ 24 ns a draw against ≈ 4).
  private readonly s = new Uint32Array(4);
  // The cached second normal: a number field that never holds null stays an unboxed double (a null in it
  // would make V8 allocate a heap number for every value stored).
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number, stream = 0) {
    let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream | 0, 0x85ebca6b) ^ 0x6a09e667) >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    const st = this.s;
    for (let i = 0; i < 4; i++) st[i] = next();
    if ((st[0] | st[1] | st[2] | st[3]) === 0) st[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const st = this.s;
    const s0 = st[0],
      s1 = st[1],
      s2 = st[2] ^ s0,
      s3 = st[3] ^ s1;
    // The array stores each word modulo 2^32, so the int32 results of ^, << and imul need no >>> 0.
    st[0] = s0 ^ s3;
    st[1] = s1 ^ s2;
    st[2] = s2 ^ (s1 << 9);
    st[3] = rotl(s3, 11);
    return Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new Error(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller, caching the second value). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Standard normal truncated to [lo, hi] by rejection (the LeCun-normal init draws on [-2, 2]). */
  truncatedNormal(lo = -2, hi = 2): number {
    for (;;) {
      const z = this.normal();
      if (z >= lo && z <= hi) return z;
    }
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** An independent generator derived from this one (like splitting a PRNG key). */
  fork(stream: number): Rng {
    return new Rng(this.nextU32(), stream);
  }
}

/** 32-bit rotate left, as an int32 (the callers store or multiply it modulo 2^32). */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
