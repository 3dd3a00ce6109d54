/**
 * The multi-pass clamps the fast model folds into its one pass (layer1, perfect copy, the path clamps), as
 * its FastOptions: one translation for every caller (training, forward-only, LLC sampling, essential
 * dynamics), so a folded kind cannot be dropped by one of them.
 */
import type { ModelShape } from '../clamps/kindDef';
import { ClampSpec, isActive } from '../clamps/spec';
import { parseHead } from '../clamps/heads';
import type { FastOptions } from './model';
import type { FastPathEdge } from './pathFold';

export type FoldedClampOptions = Pick<FastOptions, 'layer1' | 'copyHead' | 'paths'>;

/** The folded clamps among `clamps` (those active at `sequences` when given) as fast-model options. */
export function foldedClampOptions(
  c: ModelShape,
  clamps: readonly ClampSpec[],
  sequences?: number,
): FoldedClampOptions {
  let layer1 = false,
    copyHead: number | undefined;
  const paths: FastPathEdge[] = [];
  for (const s of clamps) {
    if (sequences !== undefined && !isActive(s, sequences)) continue;
    if (s.kind === 'layer1') layer1 = true;
    else if (s.kind === 'copy') copyHead = parseHead(s.head, c.depth, c.numHeads).head;
    else if (s.kind === 'path-patch' || s.kind === 'stop-gradient') {
      const from = parseHead(s.sender, c.depth, c.numHeads),
        to = parseHead(s.receiver, c.depth, c.numHeads);
      const w = s.kind === 'stop-gradient' ? 'stop' : s.with;
      paths.push({
        senderLayer: from.layer,
        sender: from.head,
        receiverLayer: to.layer,
        receiver: to.head,
        input: s.input,
        with: w,
        ...(s.kind === 'path-patch' && s.corruption ? { corruption: s.corruption } : {}),
      });
    }
  }
  return { layer1, copyHead, ...(paths.length ? { paths } : {}) };
}
