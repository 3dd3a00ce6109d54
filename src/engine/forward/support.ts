/**
 * Which engine can run a forward-only pass (evaluation, measures, `forward`) with a clamp list. The fast
 * engine runs every clamp the measures of spec §5 use: the constant clamps, layer 1 and perfect copy (as
 * in training) and, forward-only, the two-pass preserve and temperature clamps (their overrides are read
 * from a clean pass of the same engine) and perfect copy from any head. What stays on TensorFlow.js:
 * models with MLP blocks, the graft clamps (they run a donor model), and layer 1 together with the
 * clamps its folded passes cannot order (see fastForwardUnsupported).
 */
import { ModelConfig } from '../model/config';
import { ClampSpec } from '../clamps/spec';
import { fastForwardClampsUnsupported } from '../clamps/support';
import { unsupportedReason } from '../fast/model';

/** Why the fast engine cannot run this forward-only configuration (active clamps), or null when it can. */
export function fastForwardUnsupported(c: ModelConfig, clamps: ClampSpec[]): string | null {
  return unsupportedReason(c) ?? fastForwardClampsUnsupported(c, clamps);
}
