/**
 * What a clamp sees while it builds its overrides for one forward call: the model, the batch, a lazily
 * computed clean "base" pass (spec §3.4 two-pass clamps; computed inside the loss function, so it is
 * differentiated too) and the override set it writes into. Later writes to the same site overwrite
 * earlier ones where their masks overlap (spec §3.4 composition order).
 */
import { tf } from '../model/tf';
import { ModelConfig } from '../model/config';
import { forward, ForwardResult, ModelInputs, Overrides, Weights } from '../model/forward';
import { HostOverride } from '../model/hostOverride';
import { ClampBatch } from '../model/hostBatch';

export class ClampContext {
  readonly overrides: Overrides = new Map();
  private basePass: ForwardResult | null = null;
  /** The layer-1 clamp's pattern pass (spec §4.6), read by the combined perfect-copy clamp. */
  layer1PatternPass: ForwardResult | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly weights: Weights,
    readonly inputs: ModelInputs,
    readonly host: ClampBatch,
  ) {}

  get batchSize(): number {
    return this.host.size;
  }

  /** The clean forward pass (no clamps), every site recorded; computed once per call. */
  base(): ForwardResult {
    if (!this.basePass) this.basePass = forward(this.config, this.weights, this.inputs, { record: true });
    return this.basePass;
  }

  /** A further pass of the same model with the given overrides (multi-pass clamps). */
  pass(overrides: Overrides, record: boolean | ReadonlySet<string> = true): ForwardResult {
    return forward(this.config, this.weights, this.inputs, { overrides, record });
  }

  /** Sets `value` on the entries of `site` where `mask` is true, on top of earlier overrides. */
  set(site: string, value: tf.Tensor, mask: tf.Tensor): void {
    const prev = this.overrides.get(site);
    if (!prev) {
      this.overrides.set(site, { value, mask });
      return;
    }
    this.overrides.set(site, { value: tf.where(mask, value, prev.value), mask: tf.logicalOr(prev.mask, mask) });
  }

  setHost(o: HostOverride): void {
    this.set(o.site, tf.tensor(o.value, o.shape), tf.tensor(o.mask, o.shape, 'bool'));
  }
}
