/**
 * Which clamp lists the fast engine runs, derived from each kind's entry in ./kinds.ts (its training and
 * forward-only support, the sites it writes, its place in the composition order); null = it runs them,
 * else one line saying why the TensorFlow.js engine must.
 */
import { CLAMP_ORDER, ClampSpec, defOf, layer1FoldReads } from './kinds';
import type { FastSupport, ModelShape } from './kindDef';
import { pathFoldReads } from './pathKinds';

function refusal(
  c: ModelShape,
  clamps: ClampSpec[],
  support: (s: ClampSpec) => FastSupport,
  beforeLayer1Clashes: boolean,
): string | null {
  // Kinds the fast engine does not run at all, grouped by why: "the a, b clamps read passes of the model, …".
  const why = new Map<string, string[]>();
  for (const s of clamps) {
    const f = support(s);
    if (typeof f === 'object') why.set(f.no, [...new Set([...(why.get(f.no) ?? []), f.label ?? s.kind])]);
  }
  for (const [reason, labels] of why) {
    const plural = labels.length > 1,
      verb = plural ? reason.replace(/^(\w+)s\b/, '$1') : reason;
    return `the ${labels.join(', ')} clamp${plural ? 's' : ''} ${verb}, which only the TensorFlow.js engine runs`;
  }
  // The folded layer-1 passes read some sites clean and apply every override after the clamp.
  if (clamps.some((s) => s.kind === 'layer1')) {
    const reads = new Set(layer1FoldReads(c)),
      at = CLAMP_ORDER.indexOf('layer1');
    const clash = clamps.filter(
      (s) =>
        s.kind !== 'layer1' &&
        ((beforeLayer1Clashes && CLAMP_ORDER.indexOf(s.kind) < at) ||
          defOf(s)
            .writes(s, c)
            .some((w) => reads.has(w))),
    );
    if (clash.length)
      return `the ${[...new Set(clash.map((s) => s.kind))].join(', ')} clamp with the layer1 clamp runs on the TensorFlow.js engine only`;
  }
  // The folded path clamps edit the residual the last passes read: not with layer1 / copy, nor an override
  // of what they recompute.
  const paths = clamps.filter((s) => s.kind === 'path-patch' || s.kind === 'stop-gradient');
  if (paths.length) {
    const reads = new Set(paths.flatMap((s) => pathFoldReads(s as Parameters<typeof pathFoldReads>[0], c)));
    const clash = clamps.filter(
      (s) =>
        s.kind === 'layer1' ||
        s.kind === 'copy' ||
        defOf(s)
          .writes(s, c)
          .some((w) => reads.has(w)),
    );
    const kinds = [...new Set(paths.map((s) => s.kind))].join(', ');
    if (clash.length)
      return `the ${kinds} clamp with the ${[...new Set(clash.map((s) => s.kind))].join(', ')} clamp runs on the TensorFlow.js engine only`;
  }
  return null;
}

/** Why the fast engine cannot train with these clamps (gradients through them), or null. */
export function fastTrainingUnsupported(c: ModelShape, clamps: ClampSpec[]): string | null {
  return refusal(c, clamps, (s) => defOf(s).fastTraining(s, c), false);
}

/** Why the fast engine cannot run these clamps forward-only (evaluation, measures), or null. */
export function fastForwardClampsUnsupported(c: ModelShape, clamps: ClampSpec[]): string | null {
  return refusal(c, clamps, (s) => defOf(s).fastForward(s, c), true);
}

/** Whether every active clamp's host overrides depend on the batch size only (the engines then reuse them). */
export function batchFree(clamps: ClampSpec[]): boolean {
  return clamps.every((s) => defOf(s).batchFree);
}

/** Whether some clamp makes a sequence's output depend on the other sequences of its batch (KindDef.mixesSequences). */
export function mixesSequences(clamps: readonly ClampSpec[]): boolean {
  return clamps.some((s) => defOf(s).mixesSequences?.(s) ?? false);
}

/** Whether some clamp's host overrides read the batch's raw exemplars (then the engines gather them). */
export function readsExemplars(clamps: ClampSpec[]): boolean {
  return clamps.some((s) => defOf(s).readsExemplars);
}
