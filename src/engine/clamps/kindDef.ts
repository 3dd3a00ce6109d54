/**
 * The shape of a clamp kind's registry entry (kinds.ts holds the entries), apart from the ClampBody union, so
 * that the path clamps' entries (pathKinds.ts) and the registry (kinds.ts) need not import each other.
 *
 * This module imports no TensorFlow.js (the extension host parses clamps with it).
 */
import type { ModelConfig } from '../model/config';
import type { HostOverride } from '../model/hostOverride';
import type { ClampBatch } from '../model/hostBatch';

/** The kinds that read passes of the model (their TensorFlow.js application is clamps/apply.ts PASSES). */
export type PassKind =
  'preserve' | 'temperature' | 'layer1' | 'copy' | 'graft-in' | 'graft-out' | 'path-patch' | 'stop-gradient';

export interface ModelShape {
  depth: number;
  numHeads: number;
  contextLen: number;
}

/** Reads and validates one clamp's JSON fields, with errors that name the field (clamps/spec.ts builds it). */
export interface FieldReader {
  readonly model: ModelShape;
  /** A head list (default key "heads"), canonical and without repeats. */
  heads(key?: string): string[];
  num(key: string, dflt: number | undefined, lo: number, hi: number): number;
  bool(key: string): boolean;
  path(key: string): string;
  /** A block index in [0, depth). */
  layer(key: string): number;
  /** Throws unless every head is in layer l. */
  onlyLayer(heads: string[], l: number, what: string): string[];
  raw(key: string): unknown;
  fail(message: string): never;
}

/**
 * How the fast engine runs a clamp: as host overrides, folded into its one pass, from a clean pass
 * (forward-only), or not — why not, and how to name the clamp in that message (default: its kind).
 */
export type FastSupport = 'overrides' | 'folded' | 'clean pass' | { no: string; label?: string };

/**
 * One kind's registry entry, for the kind `K` with the JSON body `S` (kinds.ts's ClampKindDef<K> is this
 * with S = that kind's member of the ClampBody union).
 */
export interface KindDef<K extends string, S extends { kind: K }> {
  readonly kind: K;
  /** Spec section. */
  readonly section: string;
  /** One line for the CLI help and the pickers. */
  readonly summary: string;
  /** The README table's effect column. */
  readonly effect: string;
  /** A short form, as the CLI's --clamp takes it. */
  readonly example: string;
  /** JSON fields besides kind, from and until. */
  readonly fields: readonly string[];
  /** Short-form grammar: what a plain item is, what `@VALUE` sets, and defaults of fields the short form may omit. */
  readonly items: 'heads' | 'head' | 'what' | 'checkpoint' | 'edge' | 'none';
  readonly value?: 'strength' | 'temperature';
  readonly shortDefaults?: Readonly<Record<string, unknown>>;
  /** Defined for two context pairs only (label tokens at positions 1 and 3). */
  readonly twoPairs: boolean;
  readonly parse: (r: FieldReader) => S;
  /** A one-line description without the window, e.g. "prev-token L1H2 (s = 0.9, label rows)". */
  readonly describe: (s: S) => string;
  /** The named sites it writes (model/sites.ts). */
  readonly writes: (s: S, c: ModelShape) => string[];
  /** 'host': constant overrides built here, applied identically by every engine; 'pass': reads passes of the model (apply.ts). */
  readonly application: Application<K>;
  readonly host?: (s: S, c: ModelConfig, b: ClampBatch) => HostOverride[];
  /**
   * Its host overrides depend on the batch size only, not its labels or exemplars, so engines build them once
   * per batch size and reuse them (clamps/support.ts batchFree). A kind with no host overrides is batch-free.
   */
  readonly batchFree: boolean;
  /** Its host overrides read the batch's raw exemplars (engines gather them only then: support.ts readsExemplars). */
  readonly readsExemplars: boolean;
  /** The fast engine when training (gradients through it) and forward-only (evaluation, measures). */
  readonly fastTraining: (s: S, c: ModelShape) => FastSupport;
  readonly fastForward: (s: S, c: ModelShape) => FastSupport;
  /**
   * A sequence's output then depends on the other sequences of its batch (a batch mean, a partner drawn from the
   * batch): evaluation keeps each eval set in a batch of its own (train/evaluate.ts; support.ts mixesSequences).
   */
  readonly mixesSequences?: (s: S) => boolean;
  /** It writes only the query row of last-layer patterns (the ablation evaluator applies it head by head). */
  readonly queryRowPattern?: boolean;
  /** It sets or reshapes the attention of the heads it names (refused on a head the run zero-ablates: spec.ts). */
  readonly headPattern?: boolean;
  /** The README's fast-engine column when it depends on the spec (default: from the example). */
  readonly fastDoc?: string;
}

/** 'pass' for the kinds that read passes of the model, 'host' for the rest (distributes over a union of kinds). */
type Application<K> = K extends PassKind ? 'pass' : 'host';
