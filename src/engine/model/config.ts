/** Model hyper-parameters (spec §2.1). Defaults are the paper's. */
export interface ModelConfig {
  /** Residual width. */
  dModel: number;
  /** Heads per attention layer. */
  numHeads: number;
  /** Number of attention blocks. */
  depth: number;
  /** L: output logits and label-embedding rows. */
  numLabels: number;
  /** Exemplar feature dimension. */
  inputDim: number;
  /** Context pairs per sequence; the sequence has 2·contextLen + 1 tokens. */
  contextLen: number;
  /** MLP hidden width as a multiple of dModel; null = attention-only (the paper). */
  mlpRatio: number | null;
  /** RoPE base. */
  ropeBase: number;
  /** LayerNorm epsilon. */
  lnEps: number;
}

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  dModel: 64,
  numHeads: 8,
  depth: 2,
  numLabels: 5,
  inputDim: 512,
  contextLen: 2,
  mlpRatio: null,
  ropeBase: 10000,
  lnEps: 1e-5,
};

export const headDim = (c: ModelConfig): number => c.dModel / c.numHeads;
export const seqLen = (c: ModelConfig): number => 2 * c.contextLen + 1;

export function validateModelConfig(c: ModelConfig): void {
  const intIn = (k: keyof ModelConfig, lo: number, hi: number): void => {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new Error(`model.${k} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  };
  intIn('dModel', 2, 4096);
  intIn('numHeads', 1, 64);
  intIn('depth', 1, 32);
  intIn('numLabels', 2, 1000);
  intIn('inputDim', 1, 1 << 16);
  intIn('contextLen', 1, 64);
  if (c.dModel % c.numHeads !== 0)
    throw new Error(`model.dModel (${c.dModel}) must be divisible by model.numHeads (${c.numHeads})`);
  if (headDim(c) % 2 !== 0) throw new Error(`head dimension dModel/numHeads = ${headDim(c)} must be even for RoPE`);
  if (c.mlpRatio !== null && !(c.mlpRatio > 0))
    throw new Error(`model.mlpRatio must be null or > 0, got ${c.mlpRatio}`);
  if (!(c.ropeBase > 1)) throw new Error(`model.ropeBase must be > 1, got ${c.ropeBase}`);
  if (!(c.lnEps > 0)) throw new Error(`model.lnEps must be > 0, got ${c.lnEps}`);
}
