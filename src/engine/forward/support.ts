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
import { parseHead } from '../clamps/heads';
import { unsupportedReason } from '../fast/model';

/** Why the fast engine cannot run this forward-only configuration (active clamps), or null when it can. */
export function fastForwardUnsupported(c: ModelConfig, clamps: ClampSpec[]): string | null {
  const why = unsupportedReason(c);
  if (why) return why;
  const kinds = new Set(clamps.map((k) => k.kind));
  const graft = [...kinds].filter((k) => k === 'graft-in' || k === 'graft-out');
  if (graft.length) return `the ${graft.join(', ')} clamp runs a donor model, which only the TensorFlow.js engine does`;
  if (kinds.has('layer1')) {
    // The folded layer-1 passes apply every override after the clamp (the constant clamps' place in
    // spec §3.4); preserve and temperature come before it, and these write sites the passes read clean.
    const lastLayer = (heads: string[]) => heads.some((h) => parseHead(h, c.depth, c.numHeads).layer === c.depth - 1);
    const clash = clamps.filter((k) => k.kind === 'preserve' || k.kind === 'temperature' || k.kind === 'ablate-embedding'
      || k.kind === 'silence-non-label' || (k.kind === 'disallow-prev-token' && lastLayer(k.heads)));
    if (clash.length) return `the ${[...new Set(clash.map((k) => k.kind))].join(', ')} clamp with the layer1 clamp runs on the TensorFlow.js engine only`;
  }
  return null;
}
