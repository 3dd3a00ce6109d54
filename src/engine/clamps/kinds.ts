/**
 * The clamp kinds of spec §4, one entry each, in the reference's composition order (spec §3.4): what a
 * clamp is (its JSON fields and their validation, its canonical form and short-form grammar, a
 * description for people), what it writes (named sites), how engines apply it (constant host overrides
 * every engine applies identically, or TensorFlow.js passes of the model: ./apply.ts PASSES, where the
 * compiler asks for an entry for every kind marked `pass`), and whether and how the fast engine runs it
 * when training and forward-only. Everything else about clamps is derived from this table: the order,
 * validation, CLI help, the README table, engine choice, the quick-pick descriptions (clampKinds()).
 *
 * This module imports no TensorFlow.js (the extension host parses clamps with it).
 */
import type { ModelConfig } from '../model/config';
import { headDim, seqLen } from '../model/config';
import { HostOverride, newHostOverride } from '../model/hostOverride';
import type { ClampBatch } from '../model/hostBatch';
import { site } from '../model/sites';
import { headsByLayer, parseHead } from './heads';
import { perHeadMaskArray } from './masks';
import { PATH_PATCH_DEF, PathPatchBody, STOP_GRADIENT_DEF, StopGradientBody } from './pathKinds';
import type { FastSupport, FieldReader, KindDef, ModelShape } from './kindDef';

export interface ClampWindow {
  from?: number;
  until?: number;
}
export type PreserveWhat = 'patterns' | 'values' | 'queries' | 'keys';
export const PRESERVE_WHAT: readonly PreserveWhat[] = ['patterns', 'values', 'queries', 'keys'];

/** The clamps as data (run.json, config files, the CLI's --clamp): heads canonical as "L2H3". */
export type ClampBody =
  | { kind: 'ablate'; heads: string[] }
  | { kind: 'preserve'; what: PreserveWhat[] }
  | { kind: 'prev-token'; heads: string[]; strength: number; labelRowsOnly: boolean }
  | { kind: 'induction'; heads: string[]; strength: number }
  | { kind: 'match'; heads: string[]; temperature: number }
  | { kind: 'layer1' }
  | { kind: 'copy'; head: string }
  | { kind: 'temperature'; heads: string[]; temperature: number }
  | { kind: 'disallow-prev-token'; heads: string[]; labelRowsOnly: boolean }
  | { kind: 'silence-non-label'; heads: string[] }
  | { kind: 'ablate-embedding' }
  | { kind: 'graft-in'; checkpoint: string; tillLayer: number }
  | { kind: 'graft-out'; checkpoint: string; fromLayer: number }
  | PathPatchBody
  | StopGradientBody;

export type ClampSpec = ClampWindow & ClampBody;
export type ClampKind = ClampBody['kind'];
export type Spec<K extends ClampKind> = Extract<ClampBody, { kind: K }>;
/** A registry entry of one kind of the ClampBody union. */
export type ClampKindDef<K extends ClampKind = ClampKind> = KindDef<K, Spec<K>>;

const NEG = -1e9;
const byLayer = (c: ModelShape, heads: string[]) => headsByLayer(heads, c.depth, c.numHeads);
const heads = (hs: string[]) => hs.join(',');
const always = (x: FastSupport) => () => x;
const PASSES_NOT_FOLDED = { no: 'reads passes of the model' };

/** Writes the query row (T−1) of head-major patterns: row[key] for every batch item and head. */
function queryRow(o: HostOverride, hs: number[], row: (b: number) => number[]): void {
  const [B, H, T] = o.shape;
  for (let b = 0; b < B; b++) {
    const r = row(b);
    for (const h of hs) {
      const base = ((b * H + h) * T + T - 1) * T;
      for (let k = 0; k < T; k++) {
        o.value[base + k] = r[k];
        o.mask[base + k] = 1;
      }
    }
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
}

const def = <K extends ClampKind>(d: ClampKindDef<K>): ClampKindDef<K> => d;

/** The sites the fast engine's folded layer-1 passes read clean (an override of one cannot be folded; spec §4.6). */
export function layer1FoldReads(c: ModelShape): string[] {
  const last = c.depth - 1;
  return [
    site.embed,
    site.embedExemplar,
    site.embedLabel,
    site.residPost(0),
    site.residPre(last),
    site.lnNormalized(last),
    site.q(last),
    site.k(last),
    site.rotQ(last),
    site.rotK(last),
    site.attnScores(last),
  ];
}

/** Every clamp kind, in the reference's composition order (spec §3.4): later overrides win where masks overlap. */
export const CLAMP_KIND_DEFS = [
  def({
    kind: 'preserve',
    section: '§4.2',
    summary: 'two-pass preservation (analysis)',
    effect: 'two passes: these activations of every head of every layer copied from a clean pass (ablation zeros win)',
    example: 'preserve:values,patterns',
    fields: ['what'],
    items: 'what',
    twoPairs: false,
    parse: (r) => {
      const w = r.raw('what');
      if (!Array.isArray(w) || w.length === 0 || w.some((x) => !PRESERVE_WHAT.includes(x)))
        r.fail(`.what must list some of ${PRESERVE_WHAT.join(', ')}`);
      return { kind: 'preserve', what: PRESERVE_WHAT.filter((x) => (w as unknown[]).includes(x)) };
    },
    describe: (s) => `preserve ${s.what.join(', ')}`,
    writes: (s, c) =>
      Array.from({ length: c.depth }, (_, l) =>
        s.what.map((w) => ({ patterns: site.pattern, values: site.v, queries: site.rotQ, keys: site.rotK })[w](l)),
      ).flat(),
    application: 'pass',
    batchFree: true, // no host overrides
    readsExemplars: false,
    fastTraining: always(PASSES_NOT_FOLDED),
    fastForward: always('clean pass'),
  }),
  def({
    kind: 'temperature',
    section: '§4.8',
    summary: 'divide clean scores by T',
    effect: "two passes: the heads' clean pre-softmax scores divided by T",
    example: 'temperature:L1H4@2',
    fields: ['heads', 'temperature'],
    items: 'heads',
    value: 'temperature',
    twoPairs: false,
    parse: (r) => ({ kind: 'temperature', heads: r.heads(), temperature: r.num('temperature', undefined, 1e-6, 1e6) }),
    describe: (s) => `temperature ${heads(s.heads)} (T = ${s.temperature})`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.attnScores),
    application: 'pass',
    batchFree: true, // no host overrides
    readsExemplars: false,
    headPattern: true,
    fastTraining: always(PASSES_NOT_FOLDED),
    fastForward: always('clean pass'),
  }),
  def({
    kind: 'layer1',
    section: '§4.6',
    summary: 'perfect previous-token input (subcircuit A)',
    effect: "three passes: Layer 1's output replaced by the shifted embedding (subcircuit A)",
    example: 'layer1',
    fields: [],
    items: 'none',
    twoPairs: true,
    parse: () => ({ kind: 'layer1' }),
    describe: () => 'layer1',
    writes: (_s, c) => [site.residPost(0), site.pattern(c.depth - 1)],
    application: 'pass',
    batchFree: true,
    readsExemplars: false,
    fastTraining: always('folded'),
    fastForward: always('folded'),
  }),
  def({
    kind: 'copy',
    section: '§4.7',
    summary: "perfect copy from the head's scores",
    effect:
      "query logits = the head's scores at the two label keys, others −1e9 (subcircuit C); with `layer1`: only B learns",
    example: 'copy:L2H3',
    fields: ['head'],
    items: 'head',
    twoPairs: true,
    parse: (r) => {
      const hs = r.heads('head');
      if (hs.length !== 1) r.fail(`.head must be a single head, got ${hs.join(',')}`);
      return { kind: 'copy', head: hs[0] };
    },
    describe: (s) => `copy from ${s.head}`,
    writes: () => [site.logits],
    application: 'pass',
    batchFree: true,
    readsExemplars: false,
    headPattern: true,
    fastTraining: (s, c) =>
      parseHead(s.head, c.depth, c.numHeads).layer === c.depth - 1
        ? 'folded'
        : { no: 'reads passes of the model', label: `copy (from ${s.head}, not a last-layer head)` },
    fastForward: always('clean pass'),
    fastDoc: 'folded from a last-layer head, else TF.js / clean pass',
  }),
  def({
    kind: 'graft-in',
    section: '§4.9',
    summary: 'Layer 1 from a trained checkpoint',
    effect: "block `till`'s output (with residual) = a frozen donor checkpoint's",
    example: 'graft-in:CKPT,till=0',
    fields: ['checkpoint', 'tillLayer'],
    items: 'checkpoint',
    shortDefaults: { tillLayer: 0 },
    twoPairs: false,
    parse: (r) => ({ kind: 'graft-in', checkpoint: r.path('checkpoint'), tillLayer: r.layer('tillLayer') }),
    describe: (s) => `graft-in blocks ≤ ${s.tillLayer} from ${s.checkpoint}`,
    writes: (s) => [site.residPost(s.tillLayer)],
    application: 'pass',
    batchFree: true, // no host overrides
    readsExemplars: false,
    fastTraining: always(PASSES_NOT_FOLDED),
    fastForward: always({ no: 'runs a donor model' }),
  }),
  def({
    kind: 'ablate-embedding',
    section: '§4.10',
    summary: 'zero token embedding',
    effect: 'the token embedding is zero',
    example: 'ablate-embedding',
    fields: [],
    items: 'none',
    twoPairs: false,
    parse: () => ({ kind: 'ablate-embedding' }),
    describe: () => 'ablate-embedding',
    writes: () => [site.embed],
    application: 'host',
    batchFree: true,
    readsExemplars: false,
    host: (_s, c, b) => {
      const o = newHostOverride(site.embed, [b.size, seqLen(c), c.dModel]);
      o.mask.fill(1);
      return [o];
    },
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'ablate',
    section: '§4.1',
    summary: 'zero-ablate heads',
    effect: "zero the heads' values (their output and upstream gradient vanish)",
    example: 'ablate:L2H1,L2H2',
    fields: ['heads'],
    items: 'heads',
    twoPairs: false,
    parse: (r) => ({ kind: 'ablate', heads: r.heads() }),
    describe: (s) => `ablate ${heads(s.heads)}`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.v),
    application: 'host',
    batchFree: true,
    readsExemplars: false,
    // hook_v is position-major [B, T, H, D]; W_proj has no bias, so the heads' output is exactly zero.
    host: (s, c, b) =>
      [...byLayer(c, s.heads)].map(([layer, hs]) => {
        const shape = [b.size, seqLen(c), c.numHeads, headDim(c)];
        return {
          site: site.v(layer),
          shape,
          value: new Float32Array(shape.reduce((x, y) => x * y)),
          mask: perHeadMaskArray(shape, hs),
        };
      }),
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'prev-token',
    section: '§4.3',
    summary: 'previous-token pattern (strength s; rows=labels)',
    effect: 'pattern P[0,0] = 1, P[i,i−1] = s, P[i,i] = 1 − s (all rows or label rows)',
    example: 'prev-token:L1H2@0.9',
    fields: ['heads', 'strength', 'labelRowsOnly'],
    items: 'heads',
    value: 'strength',
    twoPairs: false,
    parse: (r) => ({
      kind: 'prev-token',
      heads: r.heads(),
      strength: r.num('strength', 1, 0, 1),
      labelRowsOnly: r.bool('labelRowsOnly'),
    }),
    describe: (s) => `prev-token ${heads(s.heads)} (s = ${s.strength}${s.labelRowsOnly ? ', label rows' : ''})`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.pattern),
    application: 'host',
    batchFree: true,
    readsExemplars: false,
    host: (s, c, b) =>
      [...byLayer(c, s.heads)].map(([layer, hs]) => {
        const T = seqLen(c),
          H = c.numHeads;
        const o = newHostOverride(site.pattern(layer), [b.size, H, T, T]);
        const rows = s.labelRowsOnly
          ? Array.from({ length: c.contextLen }, (_, j) => 2 * j + 1)
          : Array.from({ length: T }, (_, i) => i);
        for (let bb = 0; bb < b.size; bb++)
          for (const h of hs)
            for (const i of rows) {
              const r = ((bb * H + h) * T + i) * T;
              for (let k = 0; k < T; k++) o.mask[r + k] = 1;
              if (i === 0) o.value[r] = 1;
              else {
                o.value[r + i - 1] = s.strength;
                o.value[r + i] = 1 - s.strength;
              }
            }
        return o;
      }),
    headPattern: true,
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'induction',
    section: '§4.4',
    summary: 'induction pattern at the query row',
    effect: 'query row [0, a1, 0, a2, 0], a = s on the matching label, 1 − s on the other',
    example: 'induction:L2H3@1',
    fields: ['heads', 'strength'],
    items: 'heads',
    value: 'strength',
    twoPairs: true,
    parse: (r) => ({ kind: 'induction', heads: r.heads(), strength: r.num('strength', 1, 0, 1) }),
    describe: (s) => `induction ${heads(s.heads)} (s = ${s.strength})`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.pattern),
    application: 'host',
    batchFree: false,
    readsExemplars: false,
    queryRowPattern: true,
    host: (s, c, b) =>
      [...byLayer(c, s.heads)].map(([layer, hs]) => {
        const T = seqLen(c),
          st = s.strength;
        const o = newHostOverride(site.pattern(layer), [b.size, c.numHeads, T, T]);
        queryRow(o, hs, (bb) => {
          const y = b.labels.subarray(bb * 3, bb * 3 + 3);
          return [0, y[0] === y[2] ? st : 1 - st, 0, y[1] === y[2] ? st : 1 - st, 0];
        });
        return o;
      }),
    headPattern: true,
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'match',
    section: '§4.5',
    summary: 'match heads by cosine (temperature)',
    effect: 'query row by cosine similarity of raw exemplars (temperature 0 = hard)',
    example: 'match:L2H3@0',
    fields: ['heads', 'temperature'],
    items: 'heads',
    value: 'temperature',
    twoPairs: true,
    parse: (r) => ({ kind: 'match', heads: r.heads(), temperature: r.num('temperature', 0, 0, 1e6) }),
    describe: (s) => `match ${heads(s.heads)} (τ = ${s.temperature})`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.pattern),
    application: 'host',
    batchFree: false,
    readsExemplars: true,
    queryRowPattern: true,
    host: (s, c, b) => {
      if (!b.exemplars) throw new Error("the match clamp needs the batch's raw exemplars");
      const X = b.exemplars,
        D = c.inputDim;
      return [...byLayer(c, s.heads)].map(([layer, hs]) => {
        const T = seqLen(c);
        const o = newHostOverride(site.pattern(layer), [b.size, c.numHeads, T, T]);
        queryRow(o, hs, (bb) => {
          const vec = (i: number) => X.subarray((bb * 3 + i) * D, (bb * 3 + i + 1) * D);
          const q = vec(2);
          const sims = [0, 1].map((j) => cosine(q, vec(j)));
          let w: number[];
          if (s.temperature === 0) w = sims[0] >= sims[1] ? [1, 0] : [0, 1];
          else {
            const e = sims.map((x) => Math.exp((x - Math.max(...sims)) / s.temperature));
            w = e.map((v) => v / (e[0] + e[1]));
          }
          return [0, w[0], 0, w[1], 0];
        });
        return o;
      });
    },
    headPattern: true,
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'disallow-prev-token',
    section: '§4.10',
    summary: 'no previous-token attention (rows=labels)',
    effect: '−1e9 pre-softmax score on the previous token (all rows or label rows)',
    example: 'disallow-prev-token:L1H2',
    fields: ['heads', 'labelRowsOnly'],
    items: 'heads',
    twoPairs: false,
    parse: (r) => ({ kind: 'disallow-prev-token', heads: r.heads(), labelRowsOnly: r.bool('labelRowsOnly') }),
    describe: (s) => `disallow-prev-token ${heads(s.heads)}${s.labelRowsOnly ? ' (label rows)' : ''}`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.attnScores),
    application: 'host',
    batchFree: true,
    readsExemplars: false,
    host: (s, c, b) =>
      [...byLayer(c, s.heads)].map(([layer, hs]) => {
        const T = seqLen(c),
          H = c.numHeads;
        const o = newHostOverride(site.attnScores(layer), [b.size, H, T, T]);
        for (let bb = 0; bb < b.size; bb++)
          for (const h of hs)
            for (let i = 1; i < T; i++) {
              if (s.labelRowsOnly && i % 2 === 0) continue;
              const at = ((bb * H + h) * T + i) * T + i - 1;
              o.value[at] = NEG;
              o.mask[at] = 1;
            }
        return o;
      }),
    headPattern: true,
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'silence-non-label',
    section: '§4.10',
    summary: 'query attends to label tokens only',
    effect: 'last-layer heads: −1e9 pre-softmax at the query row on the exemplar keys',
    example: 'silence-non-label:L2H3',
    fields: ['heads'],
    items: 'heads',
    twoPairs: true,
    parse: (r) => ({
      kind: 'silence-non-label',
      heads: r.onlyLayer(r.heads(), r.model.depth - 1, 'silence-non-label'),
    }),
    describe: (s) => `silence-non-label ${heads(s.heads)}`,
    writes: (s, c) => [...byLayer(c, s.heads).keys()].map(site.attnScores),
    application: 'host',
    batchFree: true,
    readsExemplars: false,
    host: (s, c, b) =>
      [...byLayer(c, s.heads)].map(([layer, hs]) => {
        const T = seqLen(c),
          H = c.numHeads;
        const o = newHostOverride(site.attnScores(layer), [b.size, H, T, T]);
        for (let bb = 0; bb < b.size; bb++)
          for (const h of hs)
            for (let k = 0; k < T; k += 2) {
              const at = ((bb * H + h) * T + T - 1) * T + k;
              o.value[at] = NEG;
              o.mask[at] = 1;
            }
        return o;
      }),
    headPattern: true,
    fastTraining: always('overrides'),
    fastForward: always('overrides'),
  }),
  def({
    kind: 'graft-out',
    section: '§4.9',
    summary: "this model's block output into a donor",
    effect:
      "a frozen donor's later layers read this model's block `from-layer` output; the donor's logits are the output",
    example: 'graft-out:CKPT,from-layer=0',
    fields: ['checkpoint', 'fromLayer'],
    items: 'checkpoint',
    shortDefaults: { fromLayer: 0 },
    twoPairs: false,
    parse: (r) => ({ kind: 'graft-out', checkpoint: r.path('checkpoint'), fromLayer: r.layer('fromLayer') }),
    describe: (s) => `graft-out after block ${s.fromLayer} into ${s.checkpoint}`,
    writes: () => [site.logits],
    application: 'pass',
    batchFree: true, // no host overrides
    readsExemplars: false,
    fastTraining: always(PASSES_NOT_FOLDED),
    fastForward: always({ no: 'runs a donor model' }),
  }),
  // Path clamps (issue 18) come last: they read the forward with every other clamp applied (pathApply.ts).
  PATH_PATCH_DEF,
  STOP_GRADIENT_DEF,
] as const;

/** The definition of one kind. */
export function clampKindDef<K extends ClampKind>(kind: K): ClampKindDef<K> {
  const d = CLAMP_KIND_DEFS.find((x) => x.kind === kind);
  if (!d) throw new Error(`unknown clamp kind ${JSON.stringify(kind)}`);
  return d as unknown as ClampKindDef<K>;
}

/** A definition seen through the union (what code generic over kinds calls). */
export interface AnyClampKindDef extends Omit<
  ClampKindDef,
  'parse' | 'describe' | 'writes' | 'host' | 'fastTraining' | 'fastForward' | 'mixesSequences'
> {
  parse: (r: FieldReader) => ClampBody;
  describe: (s: ClampBody) => string;
  writes: (s: ClampBody, c: ModelShape) => string[];
  host?: (s: ClampBody, c: ModelConfig, b: ClampBatch) => HostOverride[];
  fastTraining: (s: ClampBody, c: ModelShape) => FastSupport;
  fastForward: (s: ClampBody, c: ModelShape) => FastSupport;
  mixesSequences?: (s: ClampBody) => boolean;
}

/** The definition of a spec's kind, to call with that spec. */
export function defOf(s: ClampBody | ClampKind): AnyClampKindDef {
  return clampKindDef(typeof s === 'string' ? s : s.kind) as unknown as AnyClampKindDef;
}

/** The composition order (spec §3.4). */
export const CLAMP_ORDER: ClampKind[] = CLAMP_KIND_DEFS.map((d) => d.kind);

/** For the UI: each kind with its description, spec section and a short-form example (e.g. quick picks). */
export function clampKinds(): Array<{
  kind: ClampKind;
  section: string;
  summary: string;
  effect: string;
  example: string;
}> {
  return CLAMP_KIND_DEFS.map(({ kind, section, summary, effect, example }) => ({
    kind,
    section,
    summary,
    effect,
    example,
  }));
}

/** The fast engine's column of the README table, from a kind's support. */
function fastColumn(d: AnyClampKindDef): string {
  if (d.fastDoc) return d.fastDoc;
  const shape: ModelShape = { depth: 2, numHeads: 8, contextLen: 2 },
    ex = EXAMPLE_SPECS[d.kind];
  const word = (x: FastSupport) => (typeof x === 'object' ? 'TF.js' : x);
  return `${word(d.fastTraining(ex, shape))} / ${word(d.fastForward(ex, shape))}`;
}

/** A spec of each kind for documentation (the README's fast-engine column). */
const EXAMPLE_SPECS: Record<ClampKind, ClampBody> = {
  ablate: { kind: 'ablate', heads: ['L2H1'] },
  preserve: { kind: 'preserve', what: ['values'] },
  'prev-token': { kind: 'prev-token', heads: ['L1H2'], strength: 1, labelRowsOnly: false },
  induction: { kind: 'induction', heads: ['L2H3'], strength: 1 },
  match: { kind: 'match', heads: ['L2H3'], temperature: 0 },
  layer1: { kind: 'layer1' },
  copy: { kind: 'copy', head: 'L2H3' },
  temperature: { kind: 'temperature', heads: ['L1H4'], temperature: 2 },
  'disallow-prev-token': { kind: 'disallow-prev-token', heads: ['L1H2'], labelRowsOnly: false },
  'silence-non-label': { kind: 'silence-non-label', heads: ['L2H3'] },
  'ablate-embedding': { kind: 'ablate-embedding' },
  'graft-in': { kind: 'graft-in', checkpoint: 'CKPT', tillLayer: 0 },
  'graft-out': { kind: 'graft-out', checkpoint: 'CKPT', fromLayer: 0 },
  'path-patch': { kind: 'path-patch', sender: 'L1H2', receiver: 'L2H3', input: 'k', with: 'zero' },
  'stop-gradient': { kind: 'stop-gradient', sender: 'L1H2', receiver: 'L2H3', input: 'k' },
};

/** The CLI help's clamp lines (cli.ts prints them under --clamp). */
export function clampHelpLines(indent: string): string[] {
  const w = Math.max(...CLAMP_KIND_DEFS.map((d) => d.example.length)) + 2;
  return CLAMP_KIND_DEFS.map((d) => `${indent}${d.example.padEnd(w)}${d.summary}`);
}

/** README's clamp table (test/unit/clamps-registry.test.ts checks README holds exactly this). */
export function clampReadmeTable(): string {
  const rows = CLAMP_KIND_DEFS.map((d) => defOf(d.kind)).sort((a, b) =>
    a.section.localeCompare(b.section, 'en', { numeric: true }),
  );
  return [
    '| short form | spec | effect | fast engine (training / forward-only) |',
    '|---|---|---|---|',
    ...rows.map((d) => `| \`${d.example}\` | ${d.section} | ${d.effect} | ${fastColumn(d)} |`),
  ].join('\n');
}
