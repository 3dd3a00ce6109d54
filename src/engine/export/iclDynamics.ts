/**
 * The authors' run-folder format (aadityasingh/icl-dynamics, spec §0): what `main.py` writes and the
 * paper's notebooks and `visualize_runs.py` read —
 *
 * - `config.json`: `vars(opts)` of main.py's argparse options (main_utils.py + opto.py), as main.py leaves
 *   them after resolving its schedules (`eval_every`/`ckpt_every` null, `eval_sched`/`ckpt_sched` lists);
 * - `log.h5`: `eval_iter` [n] (sequences at each evaluation), `train_iter`, `train_loss` [m] and, per
 *   evaluator, `<set>/<metric>` [n, eval sequences] for loss, acc, in_context_acc, in_context_prob, prob,
 *   use_context_prob — the notebooks plot `np.mean(f[set][metric], axis=1)` against `f['eval_iter']`;
 * - `eval_data.h5` (main.py's `--save_eval_data`): `<set>/examples` [N, C+1, D], `<set>/labels` [N, C+1].
 *
 * What does not map (also listed in config.json under `induction_lab.unmapped` and printed):
 * metrics.jsonl keeps each evaluation's mean, not the 1,000 per-sequence values, so `<set>/<metric>` is
 * [n, 1] (its mean over axis 1 is the logged mean; per-sequence spreads are not available); `train_loss` is
 * the mean over the steps between evaluations at each evaluation's sequence count, not every step's loss;
 * `train_grad_norm`, `train_grad_batch_stddev`, `out_context_acc` and `out_context_prob` are not recorded;
 * checkpoints stay safetensors (`checkpoints/seq-N.safetensors` in the run folder) — the reference's `.eqx`
 * files are equinox serialisations of its JAX module tree and optax state; the synthetic features have no
 * file (`data_file` says "synthetic"); clamp windows (from/until), per-head strengths that differ and
 * graft donors given as safetensors have no reference option. Induction strength and previous-token
 * score per head, which the reference computes in its notebooks, are added under `induction_lab/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { h5wasmModule, writeJsonAtomic, describeFsError } from '../io';
import { parseHead } from '../clamps/heads';
import type { ClampSpec } from '../clamps/spec';
import { EVAL_SET_SPECS } from '../data/sampler';
import { evalSetData } from './evalSets';
import type { RunSnapshot } from './snapshot';
import { snake } from './columns';

/** The reference's per-evaluator metrics that metrics.jsonl holds (spec §1.4), in its names. */
const METRICS = ['loss', 'acc', 'inContextAcc', 'inContextProb', 'prob', 'useContextProb'] as const;

/** "L2H3" → the reference's "1:3" (0-indexed layer). */
function codeHead(h: string, depth: number, heads: number): string {
  const r = parseHead(h, depth, heads);
  return `${r.layer}:${r.head}`;
}

/** opto.py's defaults (every clamp off). */
const OPTO_DEFAULTS: Record<string, unknown> = {
  opto_specific_fn: null,
  opto_induction_heads: null,
  opto_induction_head_strength: 1.0,
  opto_match_heads: null,
  opto_match_head_temperature: 0.0,
  opto_prev_token_heads: null,
  opto_prev_token_head_strength: 1.0,
  opto_prev_token_only_label: false,
  opto_disallow_prev_token_heads: null,
  opto_disallow_prev_token_only_label: false,
  opto_ablate_heads: null,
  opto_ablate_embedding: false,
  opto_perfect_copy_from_head_pattern: null,
  opto_set_head_temperature: null,
  opto_final_layer_silence_non_label_attn: null,
  opto_preserve_patterns: false,
  opto_preserve_values: false,
  opto_preserve_queries: false,
  opto_preserve_keys: false,
  opto_graft_in_model_ckpt: null,
  opto_graft_in_model_cfg: null,
  opto_graft_in_model_till_layer: null,
  opto_graft_out_model_ckpt: null,
  opto_graft_out_model_cfg: null,
  opto_graft_out_model_from_layer: null,
};

/** opto.py's options for a clamp list, and what could not be expressed. */
export function optoOptions(
  clamps: ClampSpec[],
  depth: number,
  numHeads: number,
): { opts: Record<string, unknown>; unmapped: string[] } {
  const opts: Record<string, unknown> = { ...OPTO_DEFAULTS };
  const unmapped: string[] = [];
  const heads = (hs: string[]) => hs.map((h) => codeHead(h, depth, numHeads));
  /** Lists grow across clamps of one kind (heads once each). */
  const append = (key: string, items: unknown[]) => {
    opts[key] = [...new Set([...((opts[key] as unknown[] | null) ?? []), ...items])];
  };
  /** One value per option in the reference: a second clamp of a kind with another value cannot be expressed. */
  const seen = new Set<string>();
  const setOnce = (key: string, v: unknown, c: ClampSpec) => {
    if (seen.has(key) && opts[key] !== v) {
      unmapped.push(
        `${JSON.stringify(c)}: ${key} is one value for every head in the reference ` +
          `(kept ${JSON.stringify(opts[key])})`,
      );
    } else {
      opts[key] = v;
      seen.add(key);
    }
  };
  for (const c of clamps) {
    if (c.from !== undefined || c.until !== undefined) {
      unmapped.push(
        `${JSON.stringify(c)}: the reference has no clamp windows (from/until); ` +
          'config.json applies the clamp for the whole run',
      );
    }
    switch (c.kind) {
      case 'ablate':
        append('opto_ablate_heads', heads(c.heads));
        break;
      case 'prev-token':
        append('opto_prev_token_heads', heads(c.heads));
        setOnce('opto_prev_token_head_strength', c.strength, c);
        setOnce('opto_prev_token_only_label', c.labelRowsOnly, c);
        break;
      case 'induction':
        append('opto_induction_heads', heads(c.heads));
        setOnce('opto_induction_head_strength', c.strength, c);
        break;
      case 'match':
        append('opto_match_heads', heads(c.heads));
        setOnce('opto_match_head_temperature', c.temperature, c);
        break;
      case 'disallow-prev-token':
        append('opto_disallow_prev_token_heads', heads(c.heads));
        setOnce('opto_disallow_prev_token_only_label', c.labelRowsOnly, c);
        break;
      case 'silence-non-label': // head indices of the last layer
        append(
          'opto_final_layer_silence_non_label_attn',
          c.heads.map((h) => parseHead(h, depth, numHeads).head),
        );
        break;
      case 'temperature':
        append(
          'opto_set_head_temperature',
          heads(c.heads).map((h) => `${h}:${c.temperature}`),
        );
        break;
      case 'ablate-embedding':
        opts.opto_ablate_embedding = true;
        break;
      case 'preserve':
        for (const w of c.what) opts[`opto_preserve_${w}`] = true;
        break;
      case 'layer1':
        opts.opto_specific_fn = 'perfect_prev_token_input';
        break;
      case 'copy':
        opts.opto_perfect_copy_from_head_pattern = codeHead(c.head, depth, numHeads);
        break;
      case 'graft-in':
        opts.opto_graft_in_model_ckpt = c.checkpoint;
        opts.opto_graft_in_model_till_layer = c.tillLayer;
        unmapped.push(graftNote(c.kind, c.checkpoint));
        break;
      case 'graft-out':
        opts.opto_graft_out_model_ckpt = c.checkpoint;
        opts.opto_graft_out_model_from_layer = c.fromLayer;
        unmapped.push(graftNote(c.kind, c.checkpoint));
        break;
      case 'path-patch':
      case 'stop-gradient': // issue 18: no reference option
        unmapped.push(`${JSON.stringify(c)}: the reference has no path clamps; config.json trains without it`);
        break;
    }
  }
  if (opts.opto_specific_fn === null && clamps.length > 0) opts.opto_specific_fn = 'standard';
  return { opts, unmapped };
}

function graftNote(kind: string, checkpoint: string): string {
  const dir = kind === 'graft-in' ? 'in' : 'out';
  return (
    `${kind}: the donor ${checkpoint} is a safetensors checkpoint; the reference loads an .eqx checkpoint ` +
    `and its config.json (opto_graft_${dir}_model_cfg)`
  );
}

/** config.json as the reference's main.py writes it, from this run's config. */
export function iclDynamicsConfig(
  s: RunSnapshot,
  outDir: string,
): { config: Record<string, unknown>; unmapped: string[] } {
  const c = s.config,
    m = c.model,
    d = c.data,
    t = c.train;
  const range = (step: number, end: number, from: number) => {
    const out: number[] = [];
    if (step > 0) for (let x = from; x < end; x += step) out.push(x);
    return out;
  };
  const specs = EVAL_SET_SPECS.filter((e) => s.records.length === 0 || e.name in (s.records[0].eval ?? {}));
  const { opts, unmapped } = optoOptions(c.clamps, m.depth, m.numHeads);
  unmapped.unshift(
    "log.h5 <set>/<metric> hold each evaluation's mean as [n, 1] (metrics.jsonl keeps no per-sequence values)",
    'train_loss / train_iter: the mean over the steps between evaluations, at each evaluation, not every step',
    'train_grad_norm, train_grad_batch_stddev, out_context_acc, out_context_prob: not recorded',
    'checkpoints: not converted (.eqx holds a JAX module tree); use checkpoints/seq-N.safetensors in the run folder',
  );
  if (d.features === 'synthetic') {
    const what = String(s.runJson.features ?? 'seeded');
    unmapped.push(
      `data_file: the synthetic stand-in of spec §1.5 has no file (${what}); ` +
        'eval_data.h5 holds the evaluation sequences',
    );
  }
  if (m.mlpRatio !== null) unmapped.push("mlp_ratio: this engine's MLP (pre-LN ReLU) need not match the reference's");
  if (t.engine !== 'auto' || t.backend !== 'auto') {
    unmapped.push(`train.engine ${t.engine} / train.backend ${t.backend}: no reference option`);
  }
  const config: Record<string, unknown> = {
    config_from_file: null,
    suppress_output: false,
    base_folder: path.dirname(path.resolve(outDir)),
    use_wandb: false,
    raw_name: true,
    run: path.basename(path.resolve(outDir)),
    disable_jit: false,
    depth: m.depth,
    not_causal: false,
    init_rescale: 1.0,
    pos_embedding_type: 'rope',
    sin_time: m.ropeBase,
    d_model: m.dModel,
    num_heads: m.numHeads,
    mlp_ratio: m.mlpRatio,
    model_output_classes: m.numLabels,
    no_norm: false,
    init_seed: t.initSeed,
    train_seed: t.trainSeed,
    train_iters: t.sequences,
    train_bs: t.batchSize,
    train_microbs: t.batchSize,
    lr: t.lr,
    optimizer: 'adam',
    weight_decay: 0.0,
    load_from_ckpt: null,
    load_from_ckpt_cfg: null,
    no_load_seeds: false,
    no_load_opt_state: false,
    ckpt_every: null,
    ckpt_sched: t.checkpointEvery > 0 ? range(t.checkpointEvery, t.sequences, t.checkpointEvery) : [2 * t.sequences],
    ckpt_sched_file: null,
    train_context_len: d.contextLen,
    warmup_steps: 4000,
    decay_steps: 1000000,
    mixing_coeffs: [1.0],
    pt_burstiness: [1],
    pt_distract: null,
    pt_no_support: null,
    pt_unique_rest: null,
    eval_seed: t.evalSeed,
    eval_iters: d.evalSize,
    eval_bs: d.evalSize,
    eval_every: null,
    eval_sched: range(t.evalEvery, t.sequences, 0),
    eval_sched_file: null,
    save_eval_data: 'eval_data.h5',
    load_eval_data: null,
    pe_names: specs.map((e) => e.name),
    pe_classes: specs.map((e) => e.classes),
    pe_exemplars: specs.map((e) => e.exemplars),
    pe_burstiness: specs.map(() => 1),
    pe_noise_scale: null,
    pe_distract: null,
    pe_no_support: null,
    pe_unique_rest: null,
    pe_fs_relabel_scheme: specs.map((e) => e.labelPairs),
    pe_context_len: null,
    pe_assign_query_label_random: null,
    data_type: 'file',
    data_file: d.features,
    data_path_in_file: d.featuresKey ?? 'resnet18/224/feat',
    class_split: d.classSplit,
    exemplar_split: d.exemplarSplit,
    fs_relabel: d.numLabels,
    fs_relabel_split: d.labelSplit,
    fs_relabel_split_seed: d.labelSplitSeed,
    noise_scale_train: 0.0,
    zipf_alpha: 0.0,
    match_query_and_distractors: false,
    assign_query_label_random: false,
    ...opts,
  };
  config.induction_lab = {
    run_id: s.dir.id,
    run_folder: s.dir.path,
    status: s.runJson.status,
    engine: s.runJson.engine ?? null,
    exported_evaluations: s.records.length,
    config: c,
    unmapped,
  };
  return { config, unmapped };
}

type H5 = Awaited<ReturnType<typeof h5wasmModule>>;

/** Writes an HDF5 file through h5wasm at a temp name beside `file`, then renames it into place. */
async function writeH5Atomic(file: string, fill: (f: InstanceType<H5['File']>) => void): Promise<void> {
  const h5 = await h5wasmModule();
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const f = new h5.File(tmp, 'w');
    try {
      fill(f);
    } finally {
      f.close();
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw new Error(`cannot write ${file}: ${describeFsError(err)}`, { cause: err });
  }
}

export interface IclDynamicsExport {
  files: string[];
  evaluations: number;
  unmapped: string[];
}

/** A growable 1-D dataset, as main.py creates its log.h5 entries (maxshape None). */
function growable(name: string, data: Float64Array | Float32Array | BigInt64Array, dtype: string, cols?: number) {
  const n = cols ? data.length / cols : data.length;
  return {
    name,
    data,
    dtype,
    shape: cols ? [n, cols] : [n],
    maxshape: cols ? [null, cols] : [null],
    chunks: cols ? [Math.max(1, n), cols] : [Math.max(1, n)],
  };
}

export async function writeIclDynamics(
  s: RunSnapshot,
  outDir: string,
  opts: { evalData?: boolean } = {},
): Promise<IclDynamicsExport> {
  try {
    fs.mkdirSync(outDir, { recursive: true });
    fs.accessSync(outDir, fs.constants.W_OK);
  } catch (err) {
    throw new Error(`cannot write to ${outDir}: ${describeFsError(err)}`, { cause: err });
  }
  const { config, unmapped } = iclDynamicsConfig(s, outDir);
  const files: string[] = [];
  const recs = s.records;
  const n = recs.length;
  const H = s.config.model.numHeads;
  const logPath = path.join(outDir, 'log.h5');
  await writeH5Atomic(logPath, (f) => {
    const trained = recs.filter((r) => typeof r.trainLoss === 'number' && Number.isFinite(r.trainLoss));
    f.create_dataset(growable('eval_iter', BigInt64Array.from(recs.map((r) => BigInt(r.sequences))), '<q'));
    f.create_dataset(growable('train_iter', Float64Array.from(trained.map((r) => r.sequences)), '<d'));
    f.create_dataset(growable('train_loss', Float64Array.from(trained.map((r) => r.trainLoss)), '<d'));
    const sets = [...new Set(recs.flatMap((r) => Object.keys(r.eval ?? {})))];
    for (const set of sets) {
      const g = f.create_group(set);
      for (const m of METRICS) {
        const v = Float32Array.from(recs.map((r) => r.eval?.[set]?.[m] ?? NaN));
        g.create_dataset(growable(snake(m), v, '<f', 1)); // [n, 1]: each evaluation's mean
      }
    }
    const extra = f.create_group('induction_lab');
    const perHead = (get: (r: (typeof recs)[number]) => number[] | undefined) => {
      const a = new Float64Array(n * H).fill(NaN);
      recs.forEach((r, i) =>
        (get(r) ?? []).forEach((v, h) => {
          if (h < H) a[i * H + h] = v;
        }),
      );
      return a;
    };
    const put = (name: string, data: Float64Array | BigInt64Array, shape: number[], dtype: string) =>
      extra.create_dataset({ name, data, shape, dtype });
    put(
      'induction_strength',
      perHead((r) => r.inductionStrength),
      [n, H],
      '<d',
    );
    put(
      'prev_token_score',
      perHead((r) => r.prevTokenScore),
      [n, H],
      '<d',
    );
    put('step', BigInt64Array.from(recs.map((r) => BigInt(r.step))), [n], '<q');
    put('wall_time', Float64Array.from(recs.map((r) => r.wallTime)), [n], '<d');
    f.create_attribute('induction_lab_run', s.dir.id);
  });
  files.push(logPath);
  if (opts.evalData !== false) {
    const { sets } = await evalSetData(s.config);
    const evalPath = path.join(outDir, 'eval_data.h5');
    await writeH5Atomic(evalPath, (f) => {
      for (const e of sets) {
        const g = f.create_group(e.name);
        const N = e.batch.size,
          items = s.config.data.contextLen + 1;
        g.create_dataset({ name: 'examples', data: e.exemplars, shape: [N, items, e.dim], dtype: '<f' });
        g.create_dataset({ name: 'labels', data: Int32Array.from(e.batch.labels), shape: [N, items], dtype: '<i' });
      }
    });
    files.push(evalPath);
  } else {
    config.save_eval_data = null;
  }
  const cfgPath = path.join(outDir, 'config.json');
  writeJsonAtomic(cfgPath, config);
  files.unshift(cfgPath);
  return { files, evaluations: n, unmapped };
}
