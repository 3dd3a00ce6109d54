/**
 * Corrupted inputs for path patching (issue 18; docs/path-patching.md), as data: a corruption maps every
 * item of a sequence x1 ℓ1 x2 ℓ2 xq to the item whose exemplar and whose label it takes, so the same map
 * corrupts a host batch (measures) and the model's input tensors (path clamps during training). Defined for
 * two context pairs (items: context 1, context 2, query):
 *
 *   labels      x1 ℓ2 x2 ℓ1 xq   the context labels shuffled: with two pairs the only shuffle that moves a
 *                                label is the swap, so each label token carries the other pair's label
 *   prev-token  x2 ℓ1 x1 ℓ2 xq   each label token's previous token (its exemplar) replaced by the other
 *                                pair's exemplar, always of another class (the two context classes differ)
 *   class       x1' ℓ1 x2' ℓ2 xq' every exemplar replaced by an exemplar of other classes: those of the next
 *                                sequence of the batch (cyclically) sharing no class with this one, ordered so
 *                                that its query matches the same context position; labels kept, so the
 *                                corrupted sequence is a valid task sequence with the same answer position
 *
 * No tensors here (the TF.js application is clamps/pathApply.ts).
 */
import { classIds, type HostBatch } from '../model/hostBatch';

export type Corruption = 'labels' | 'prev-token' | 'class';
export const CORRUPTIONS: readonly Corruption[] = ['labels', 'prev-token', 'class'];

export const CORRUPTION_DOC: Record<Corruption, string> = {
  labels: 'x1 ℓ2 x2 ℓ1 xq: the two context labels swapped',
  'prev-token': "x2 ℓ1 x1 ℓ2 xq: each label's previous token replaced by the other pair's exemplar",
  class:
    "x1' ℓ1 x2' ℓ2 xq': every exemplar from the next class-disjoint sequence of the batch, " + 'same answer position',
};

export function checkCorruption(x: unknown): Corruption {
  if (!CORRUPTIONS.includes(x as Corruption)) {
    throw new Error(`unknown corruption ${JSON.stringify(x)} (known: ${CORRUPTIONS.join(', ')})`);
  }
  return x as Corruption;
}

/** Flat item indices b·3 + i: which item each item's exemplar and label come from. */
export interface CorruptionMap {
  exemplarFrom: Int32Array;
  labelFrom: Int32Array;
  /** `class`: sequences for which no class-disjoint partner exists in the batch (the least-overlapping one is used). */
  unmatched: number;
}

/**
 * The map of corruption `kind` on a batch of B sequences. `ids` [B, 3] identify the items' classes (class
 * indices, or any id equal exactly for equal classes); only `class` reads them. `into`: arrays of B·3 to write
 * the map into (a training step reuses them) instead of new ones.
 */
export function corruptionMap(
  kind: Corruption,
  B: number,
  labels: ArrayLike<number>,
  ids?: ArrayLike<number>,
  into?: { exemplarFrom: Int32Array; labelFrom: Int32Array },
): CorruptionMap {
  const n = B * 3;
  const exemplarFrom = into?.exemplarFrom.length === n ? into.exemplarFrom : new Int32Array(n),
    labelFrom = into?.labelFrom.length === n ? into.labelFrom : new Int32Array(n);
  for (let i = 0; i < n; i++) exemplarFrom[i] = labelFrom[i] = i;
  let unmatched = 0;
  if (kind === 'labels')
    for (let b = 0; b < B; b++) {
      labelFrom[3 * b] = 3 * b + 1;
      labelFrom[3 * b + 1] = 3 * b;
    }
  else if (kind === 'prev-token') {
    for (let b = 0; b < B; b++) {
      exemplarFrom[3 * b] = 3 * b + 1;
      exemplarFrom[3 * b + 1] = 3 * b;
    }
  } else {
    if (!ids) throw new Error("the class corruption needs the items' class ids");
    // The query's label is the matching context label (spec §1.1), so the answer position is read from labels.
    const correct = (b: number) => (labels[3 * b + 2] === labels[3 * b] ? 0 : 1);
    const overlap = (a: number, p: number) => {
      let s = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (ids[3 * a + i] === ids[3 * p + j]) s++;
      return s;
    };
    for (let b = 0; b < B; b++) {
      let best = -1,
        bestOverlap = Infinity;
      for (let s = 1; s < B && bestOverlap > 0; s++) {
        const p = (b + s) % B,
          o = overlap(b, p);
        if (o < bestOverlap) {
          best = p;
          bestOverlap = o;
        }
      }
      if (best < 0) {
        best = b;
        bestOverlap = 1;
      }
      if (bestOverlap > 0) unmatched++;
      const swap = correct(best) !== correct(b);
      exemplarFrom[3 * b] = 3 * best + (swap ? 1 : 0);
      exemplarFrom[3 * b + 1] = 3 * best + (swap ? 0 : 1);
      exemplarFrom[3 * b + 2] = 3 * best + 2;
    }
  }
  return { exemplarFrom, labelFrom, unmatched };
}

/** A host batch with corruption `kind` applied (sharing the vectors; items compared by class: classIds). */
export function corruptHostBatch(b: HostBatch, kind: Corruption): { batch: HostBatch; unmatched: number } {
  if (b.labels.length !== b.size * 3) throw new Error('corruptions are defined for two context pairs (5 tokens)');
  const ids = classIds(b);
  const m = corruptionMap(kind, b.size, b.labels, ids);
  const index = new Int32Array(b.index.length),
    labels = new Int32Array(b.labels.length),
    classes = b.classes && new Int32Array(b.classes.length);
  for (let i = 0; i < index.length; i++) {
    index[i] = b.index[m.exemplarFrom[i]];
    labels[i] = b.labels[m.labelFrom[i]];
    if (classes) classes[i] = b.classes![m.exemplarFrom[i]];
  }
  const batch: HostBatch = { size: b.size, labels, vectors: b.vectors, index, ...(classes ? { classes } : {}) };
  return { batch, unmatched: m.unmatched };
}
