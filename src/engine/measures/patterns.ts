/**
 * `induction-lab patterns RUN_DIR`: the attention patterns of every head at a checkpoint, as the
 * attention view shows them — one sequence of an eval set (spec §1.4), a hand-typed sequence, or the
 * eval set's mean (plain, or aligned to the correct / other label, see src/shared/attentionViews.ts).
 * The model runs with the clamps of the run that are active at that checkpoint, as during training
 * (a clamped pattern shows as clamped). Prints one JSON object. The VS Code extension runs this in a
 * child process, so the model never loads in the extension host.
 */
import { initBackend, BackendPreference } from '../model/tf';
import { RunDir } from '../io';
import type { Batch, TaskData } from '../data';
import { loadTaskData } from '../data';
import { readCheckpoint } from '../model/checkpoint';
import { seqLen } from '../model/config';
import { site } from '../model/sites';
import { denseEval, disposeContext, makeMeasureContext, readRunConfig } from './dense';
import { describeClamp, isActive } from '../clamps/spec';
import { tokenNames } from '../train/evaluate';
import {
  alignedMeanPatterns,
  formatSequenceSpec,
  meanPatterns,
  parseSequenceSpec,
  sequencePatterns,
  type SequenceSpec,
} from '../../shared/attentionViews';

export type PatternsMode = 'single' | 'average' | 'aligned';
export const PATTERNS_MODES: readonly PatternsMode[] = ['single', 'average', 'aligned'];

export interface PatternsArgs {
  runDir: string;
  /** Sequences of the checkpoint (the nearest saved one is used); default the latest. */
  checkpoint?: number;
  mode: PatternsMode;
  /** Eval set of the sequence (single) or of the mean (average, aligned); default fsl_train. */
  evalSet?: string;
  /** Index of the sequence in the eval set (single; default 0). */
  sequence?: number;
  /** A hand-typed sequence "x1 ℓ1 x2 ℓ2 xq" (single only), see parseSequenceSpec. */
  custom?: string;
  backend?: BackendPreference;
}

export interface PatternsResult {
  /** Checkpoint used, and the one asked for when it differed (the nearest saved checkpoint was taken). */
  sequences: number;
  requested?: number;
  mode: PatternsMode;
  tokens: string[];
  /** [layer][head][query][key], post-softmax. */
  layers: number[][][][];
  evalSet?: string;
  evalSetSize?: number;
  sequenceIndex?: number;
  /** The sequence shown (single): classes, exemplars, labels and which pair matches. */
  sequence?: SequenceSpec & { text: string; answer: number | null };
  /** Per-sequence loss and whether the model's argmax is the answer (single, when the answer is known). */
  loss?: number;
  correctPrediction?: boolean;
  /** The query row (index) re-indexed to correct / other label (aligned). */
  alignedRow?: number;
  /** The run's clamps active at the checkpoint. */
  clamps: string[];
  note: string;
}

function nearestCheckpoint(rd: RunDir, want?: number): { sequences: number; path: string } {
  const all = rd.listCheckpoints();
  if (!all.length) throw new Error(`run ${rd.path} has no checkpoints`);
  if (want === undefined) return all[all.length - 1];
  return all.reduce((b, c) => (Math.abs(c.sequences - want) < Math.abs(b.sequences - want) ? c : b));
}

/** A one-sequence batch from a parsed spec; the target is the matching pair's label (ℓ1 when unknown). */
function customBatch(task: TaskData, s: SequenceSpec): Batch {
  const bank = task.bank;
  s.classes.forEach((c, i) => {
    if (c >= bank.classes) {
      throw new Error(`class ${c} is out of range: the features have ${bank.classes} classes (0…${bank.classes - 1})`);
    }
    if (s.exemplars[i] >= bank.exemplars) {
      throw new Error(`exemplar ${s.exemplars[i]} is out of range: the features have ${bank.exemplars} per class`);
    }
  });
  const answer = s.correct === null ? s.labels[0] : s.labels[s.correct];
  return {
    size: 1,
    classes: Int32Array.from(s.classes),
    exemplarIdx: Int32Array.from(s.exemplars),
    labels: Int32Array.of(s.labels[0], s.labels[1], answer),
    correct: Uint8Array.of(s.correct ?? 0),
  };
}

function rowOf(batch: Batch, i: number): Batch {
  return {
    size: 1,
    classes: batch.classes.slice(i * 3, i * 3 + 3),
    exemplarIdx: batch.exemplarIdx.slice(i * 3, i * 3 + 3),
    labels: batch.labels.slice(i * 3, i * 3 + 3),
    correct: batch.correct.slice(i, i + 1),
  };
}

export async function computePatterns(a: PatternsArgs): Promise<PatternsResult> {
  if (!PATTERNS_MODES.includes(a.mode)) throw new Error(`unknown mode "${a.mode}" (single, average, aligned)`);
  if (a.custom !== undefined && a.mode !== 'single') {
    throw new Error('--custom shows one sequence: use it with --mode single');
  }
  const rd = RunDir.open(a.runDir);
  const run = readRunConfig(rd);
  const c = run.model;
  if (c.contextLen !== 2) {
    throw new Error(
      'the attention view is defined for 2 context pairs (x1 ℓ1 x2 ℓ2 xq); ' +
        `this model has contextLen ${c.contextLen}`,
    );
  }
  const ref = nearestCheckpoint(rd, a.checkpoint);
  const ck = readCheckpoint(ref.path, c);
  const task = await loadTaskData(run.data);
  await initBackend(a.backend ?? 'auto');

  // The sequences to run.
  const setName = a.evalSet ?? 'fsl_train';
  let batch: Batch;
  let spec: SequenceSpec | undefined;
  let evalSize: number | undefined;
  if (a.custom !== undefined) {
    const limits = { classes: task.bank.classes, exemplars: task.bank.exemplars, labels: c.numLabels };
    const p = parseSequenceSpec(a.custom, limits);
    if (typeof p === 'string') throw new Error(`--custom: ${p}`);
    spec = p;
    batch = customBatch(task, p);
  } else {
    const sets = task.evalSets(run.train.evalSeed);
    const set = sets.find((s) => s.spec.name === setName);
    if (!set) {
      throw new Error(`unknown eval set "${setName}" (this run has ${sets.map((s) => s.spec.name).join(', ')})`);
    }
    evalSize = set.batch.size;
    if (a.mode === 'single') {
      const i = a.sequence ?? 0;
      if (!Number.isInteger(i) || i < 0 || i >= evalSize) {
        throw new Error(
          `--sequence must be 0…${evalSize - 1} (${setName} holds ${evalSize} sequences), ` + `got ${a.sequence}`,
        );
      }
      batch = rowOf(set.batch, i);
      const corr = set.batch.correct[i] as 0 | 1;
      spec = {
        classes: [batch.classes[0], batch.classes[1], batch.classes[2]],
        exemplars: [batch.exemplarIdx[0], batch.exemplarIdx[1], batch.exemplarIdx[2]],
        labels: [batch.labels[0], batch.labels[1]],
        correct: corr,
      };
    } else batch = set.batch;
  }

  const T = seqLen(c),
    H = c.numHeads,
    B = batch.size;
  // The run's whole clamp list (not only its ablations): the model runs as it trained.
  const ctx = makeMeasureContext({
    run,
    params: ck.params,
    task,
    sequences: ref.sequences,
    batch: { batch, denseSize: B, subsample: null },
    includeRunAblations: false,
  });
  try {
    const record = new Set(Array.from({ length: c.depth }, (_, l) => site.pattern(l)));
    const r = denseEval(ctx, run.clamps, { record });
    const layers = Array.from({ length: c.depth }, (_, l) => {
      const p = r.acts![site.pattern(l)];
      if (a.mode === 'single') return sequencePatterns(p, 0, H, T);
      return a.mode === 'aligned' ? alignedMeanPatterns(p, B, H, T, batch.correct) : meanPatterns(p, B, H, T);
    });
    const clamps = run.clamps.filter((s) => isActive(s, ref.sequences)).map(describeClamp);
    const at = `checkpoint ${ref.sequences.toLocaleString('en-US')}`;
    const out: PatternsResult = {
      sequences: ref.sequences,
      mode: a.mode,
      tokens: tokenNames(c.contextLen),
      layers,
      clamps,
      note: '',
      ...(a.checkpoint !== undefined && a.checkpoint !== ref.sequences ? { requested: a.checkpoint } : {}),
    };
    if (spec) {
      const answer = spec.correct === null ? null : spec.labels[spec.correct];
      out.sequence = { ...spec, text: formatSequenceSpec(spec), answer };
      if (answer !== null) {
        out.loss = r.loss[0];
        out.correctPrediction = r.correct[0] === 1;
      }
      const which =
        spec.correct === null
          ? 'the query matches neither pair (or both)'
          : `${spec.correct === 0 ? 'first' : 'second'} pair matches, answer ${answer}`;
      const pred =
        answer === null ? '' : ` · model ${out.correctPrediction ? 'right' : 'wrong'} (loss ${r.loss[0].toFixed(3)})`;
      const src = a.custom !== undefined ? 'typed sequence' : `${setName} sequence #${a.sequence ?? 0}`;
      out.note =
        `${src} at ${at}: classes ${spec.classes.join(', ')} · ℓ1 = ${spec.labels[0]}, ℓ2 = ${spec.labels[1]}` +
        ` (${which})${pred}`;
      if (a.custom === undefined) {
        Object.assign(out, { evalSet: setName, evalSetSize: evalSize, sequenceIndex: a.sequence ?? 0 });
      }
    } else {
      out.evalSet = setName;
      out.evalSetSize = evalSize;
      out.note =
        a.mode === 'aligned'
          ? `mean over the ${evalSize} ${setName} sequences at ${at}, query row aligned: ℓ2 = correct label, ` +
            'x2 = its exemplar; ℓ1, x1 = the other pair'
          : `plain mean over the ${evalSize} ${setName} sequences at ${at} ` +
            '(the answer is ℓ1 in about half, ℓ2 in the other half)';
      if (a.mode === 'aligned') out.alignedRow = T - 1;
    }
    return out;
  } finally {
    disposeContext(ctx);
  }
}
