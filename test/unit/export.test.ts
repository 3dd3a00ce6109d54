/**
 * `induction-lab export`: every format read back by something other than its writer (CSV parsed here,
 * Parquet through a Thrift-compact decoder written here, HDF5 through h5wasm, safetensors through the
 * project's decoder, TensorBoard through test/unit/tbReader.ts), a running run exported as a snapshot that
 * says so, the authors' config.json keys, the LLC hook, and the bad-input lines.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir, decodeSafetensors, h5wasmModule } from '../../src/engine/io';
import { loadTaskData } from '../../src/engine/data';
import { exportCommand } from '../../src/engine/export/command';
import { optoOptions } from '../../src/engine/export/iclDynamics';
import { normalizeClamps } from '../../src/engine/clamps/spec';
import type { MetricsRecord } from '../../src/shared/protocol';
import { readEvents } from './tbReader';
import { cliArgv } from './procHelpers';

const ROOT = path.join(__dirname, '..', '..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'il-export-'));
let run = '';
const config = resolveRunConfig({
  name: 'exp',
  train: { sequences: 192, evalEvery: 64, checkpointEvery: 96, lr: 1e-3, engine: 'fast' },
  data: { evalSize: 24 },
  clamps: [
    { kind: 'ablate', heads: ['L2H0', 'L2H5'] },
    { kind: 'prev-token', heads: ['L1H2'], strength: 0.9, until: 128 },
  ],
});

before(async () => {
  const dir = RunDir.create(tmp(), 'run');
  await runTraining(config, dir, { emit: () => undefined, shouldStop: () => false });
  run = dir.path;
});

async function exp(o: Parameters<typeof exportCommand>[0]) {
  const said: string[] = [],
    notes: string[] = [];
  let stdout = '';
  await exportCommand(o, {
    say: (l) => said.push(l),
    note: (l) => notes.push(l),
    stdout: (t) => {
      stdout += t;
    },
  });
  return { said, notes, stdout };
}
const metrics = (dir = run) => RunDir.open(dir).readMetrics<MetricsRecord>();

test('csv: a row per evaluation, every column of metrics.jsonl, numbers that round-trip, empty cells', async () => {
  const out = path.join(tmp(), 'm.csv');
  const r = await exp({ run, format: 'csv', out });
  assert.match(r.said[0], /wrote .*m\.csv \(4 rows × 45 columns\)/);
  const lines = fs.readFileSync(out, 'utf8').split('\r\n');
  assert.equal(lines.pop(), '');
  const head = lines[0].split(',');
  assert.deepEqual(head.slice(0, 6), [
    'sequences',
    'step',
    'wall_time',
    'train/loss',
    'train/learning_rate',
    'fsl_train/loss',
  ]);
  for (const c of ['heads/L2H7/induction_strength', 'heads/L1H0/prev_token_score', 'fsl_test_class/use_context_prob']) {
    assert.ok(head.includes(c), c);
  }
  const ms = metrics();
  lines.slice(1).forEach((line, i) => {
    const cells = Object.fromEntries(line.split(',').map((c, j) => [head[j], c]));
    assert.equal(Number(cells.sequences), ms[i].sequences);
    assert.equal(Number(cells['fsl_val_rl/in_context_prob']), ms[i].eval.fsl_val_rl.inContextProb, 'exact round trip');
    assert.equal(Number(cells['heads/L2H3/induction_strength']), ms[i].inductionStrength[3]);
    assert.equal(cells['train/loss'], i === 0 ? '' : String(ms[i].trainLoss));
  });
  const std = await exp({ run, format: 'csv', out: '-' });
  assert.equal(std.stdout, fs.readFileSync(out, 'utf8'));
});

// ---- a Parquet reader for the test: Thrift compact decoding of the footer, PLAIN pages ----
type TVal = number | bigint | Uint8Array | TVal[] | Map<number, TVal>;
function thrift(b: Uint8Array, at: number): { v: Map<number, TVal>; end: number } {
  let i = at;
  const uvar = () => {
    let r = 0n,
      s = 0n;
    for (;;) {
      const x = b[i++];
      r |= BigInt(x & 0x7f) << s;
      s += 7n;
      if (!(x & 0x80)) return r;
    }
  };
  const zz = () => {
    const u = uvar();
    return (u >> 1n) ^ -(u & 1n);
  };
  const value = (type: number): TVal => {
    if (type === 5 || type === 6) {
      const v = zz();
      return type === 5 ? Number(v) : v;
    }
    if (type === 8) {
      const n = Number(uvar());
      const s = b.subarray(i, i + n);
      i += n;
      return s;
    }
    if (type === 9) {
      const h = b[i++];
      let n = h >> 4;
      if (n === 15) n = Number(uvar());
      return Array.from({ length: n }, () => value(h & 15));
    }
    if (type === 12) return struct();
    throw new Error(`thrift type ${type}`);
  };
  const struct = (): Map<number, TVal> => {
    const m = new Map<number, TVal>();
    let last = 0;
    for (;;) {
      const h = b[i++];
      if (h === 0) return m;
      const delta = h >> 4,
        type = h & 15;
      const id = delta ? last + delta : Number(zz());
      m.set(id, value(type));
      last = id;
    }
  };
  const v = struct();
  return { v, end: i };
}
const txt = (x: TVal) => new TextDecoder().decode(x as Uint8Array);

test('parquet: schema, rows and every value read back by an independent decoder (nulls as levels)', async () => {
  const out = path.join(tmp(), 'm.parquet');
  await exp({ run, format: 'parquet', out });
  const b = new Uint8Array(fs.readFileSync(out));
  assert.equal(txt(b.subarray(0, 4)), 'PAR1');
  assert.equal(txt(b.subarray(b.length - 4)), 'PAR1');
  const flen = new DataView(b.buffer, b.byteOffset).getUint32(b.length - 8, true);
  const meta = thrift(b, b.length - 8 - flen).v;
  const ms = metrics();
  assert.equal(meta.get(3), BigInt(ms.length), 'num_rows');
  const schema = meta.get(2) as Array<Map<number, TVal>>;
  const names = schema.slice(1).map((e) => txt(e.get(4)!));
  assert.equal(schema[0].get(5), names.length);
  const [group] = meta.get(4) as Array<Map<number, TVal>>;
  const chunks = group.get(1) as Array<Map<number, TVal>>;
  const column = (name: string): Array<number | null> => {
    const j = names.indexOf(name);
    const md = chunks[j].get(3) as Map<number, TVal>;
    assert.equal(md.get(4), 0, 'uncompressed');
    const { v: ph, end } = thrift(b, Number(md.get(9)));
    const optional = schema[j + 1].get(3) === 1;
    let p = end;
    const present: boolean[] = [];
    if (optional) {
      const n = new DataView(b.buffer, b.byteOffset + p).getUint32(0, true);
      let q = p + 4;
      while (present.length < ms.length) {
        // RLE runs: (count << 1) then the level byte
        const count = b[q] >> 1,
          bit = b[q + 1];
        q += 2;
        for (let k = 0; k < count; k++) present.push(bit === 1);
      }
      assert.equal(q, p + 4 + n);
      p = q;
    } else present.push(...ms.map(() => true));
    assert.equal((ph.get(5) as Map<number, TVal>).get(1), ms.length);
    const dv = new DataView(b.buffer, b.byteOffset + p);
    let k = 0;
    const int64 = schema[j + 1].get(1) === 2;
    const next = () => (int64 ? Number(dv.getBigInt64(8 * k++, true)) : dv.getFloat64(8 * k++, true));
    return present.map((ok) => (ok ? next() : null));
  };
  assert.deepEqual(
    column('sequences'),
    ms.map((r) => r.sequences),
  );
  assert.deepEqual(
    column('step'),
    ms.map((r) => r.step),
  );
  assert.deepEqual(
    column('train/loss'),
    ms.map((r, i) => (i === 0 ? null : r.trainLoss)),
  );
  assert.deepEqual(
    column('fsl_train/loss'),
    ms.map((r) => r.eval.fsl_train.loss),
  );
  assert.deepEqual(
    column('heads/L1H2/prev_token_score'),
    ms.map((r) => r.prevTokenScore[2]),
  );
});

/** Keys of `vars(opts)` in the reference's main.py (main_utils.create_parser + opto.add_args_to_parser). */
const REFERENCE_KEYS = `
config_from_file suppress_output base_folder use_wandb raw_name run disable_jit depth not_causal init_rescale
pos_embedding_type sin_time d_model num_heads mlp_ratio model_output_classes no_norm init_seed train_seed
train_iters train_bs train_microbs lr optimizer weight_decay load_from_ckpt load_from_ckpt_cfg no_load_seeds
no_load_opt_state ckpt_every ckpt_sched ckpt_sched_file train_context_len warmup_steps decay_steps mixing_coeffs
pt_burstiness pt_distract pt_no_support pt_unique_rest eval_seed eval_iters eval_bs eval_every eval_sched
eval_sched_file save_eval_data load_eval_data pe_names pe_classes pe_exemplars pe_burstiness pe_noise_scale
pe_distract pe_no_support pe_unique_rest pe_fs_relabel_scheme pe_context_len pe_assign_query_label_random
data_type data_file data_path_in_file class_split exemplar_split fs_relabel fs_relabel_split
fs_relabel_split_seed noise_scale_train zipf_alpha match_query_and_distractors assign_query_label_random
opto_specific_fn opto_induction_heads opto_induction_head_strength opto_match_heads opto_match_head_temperature
opto_prev_token_heads opto_prev_token_head_strength opto_prev_token_only_label opto_disallow_prev_token_heads
opto_disallow_prev_token_only_label opto_ablate_heads opto_ablate_embedding opto_perfect_copy_from_head_pattern
opto_set_head_temperature opto_final_layer_silence_non_label_attn opto_preserve_patterns opto_preserve_values
opto_preserve_queries opto_preserve_keys opto_graft_in_model_ckpt opto_graft_in_model_cfg
opto_graft_in_model_till_layer opto_graft_out_model_ckpt opto_graft_out_model_cfg
opto_graft_out_model_from_layer`
  .trim()
  .split(/\s+/);

/** A dataset of an h5wasm file: its values and shape. */
function ds(f: { get(k: string): unknown }, k: string): { value: ArrayLike<number | bigint>; shape: number[] } {
  const d = f.get(k) as { value: ArrayLike<number | bigint>; shape: number[] } | null;
  if (!d) throw new Error(`no dataset ${k}`);
  return d;
}

test('icl-dynamics: config.json with every reference option, the log.h5 the notebooks read, eval_data.h5', async () => {
  const out = path.join(tmp(), 'omniglot50_rl5');
  const r = await exp({ run, format: 'icl-dynamics', out });
  assert.ok(
    r.notes.some((n) => /not mapped: .*"until":128.*no clamp windows/.test(n)),
    r.notes.join('\n'),
  );
  assert.ok(r.notes.some((n) => /per-sequence/.test(n)));
  const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.deepEqual(
    REFERENCE_KEYS.filter((k) => !(k in cfg)),
    [],
    'every option of the reference',
  );
  assert.deepEqual(
    Object.keys(cfg).filter((k) => !REFERENCE_KEYS.includes(k)),
    ['induction_lab'],
  );
  assert.equal(cfg.run, 'omniglot50_rl5');
  assert.equal(cfg.raw_name, true);
  assert.equal(cfg.train_iters, 192);
  assert.equal(cfg.lr, 1e-3);
  assert.deepEqual(cfg.eval_sched, [0, 64, 128]);
  assert.deepEqual(cfg.ckpt_sched, [96]);
  assert.deepEqual(cfg.class_split, [50, 1473, 100]);
  assert.deepEqual(cfg.fs_relabel_split, [8, 2, 0]);
  assert.deepEqual(cfg.pe_names, ['fsl_train', 'fsl_val_rl', 'fsl_train_valex', 'fsl_test_class']);
  assert.deepEqual(cfg.pe_exemplars, ['train', 'train', 'val', 'train']);
  assert.deepEqual(cfg.pe_fs_relabel_scheme, ['train', 'val', 'train', 'train']);
  assert.deepEqual(cfg.opto_ablate_heads, ['1:0', '1:5']);
  assert.deepEqual(cfg.opto_prev_token_heads, ['0:2']);
  assert.equal(cfg.opto_prev_token_head_strength, 0.9);
  assert.equal(cfg.opto_specific_fn, 'standard');

  const h5 = await h5wasmModule();
  const f = new h5.File(path.join(out, 'log.h5'), 'r');
  const ms = metrics();
  const arr = (k: string) => Array.from(ds(f, k).value, Number);
  assert.deepEqual(
    arr('eval_iter'),
    ms.map((m) => m.sequences),
  );
  assert.deepEqual(
    arr('train_iter'),
    ms.slice(1).map((m) => m.sequences),
  );
  assert.deepEqual(
    arr('train_loss'),
    ms.slice(1).map((m) => m.trainLoss),
  );
  assert.deepEqual(ds(f, 'fsl_train/loss').shape, [ms.length, 1]);
  assert.deepEqual(
    arr('fsl_val_rl/in_context_acc'),
    ms.map((m) => Math.fround(m.eval.fsl_val_rl.inContextAcc)),
  );
  assert.deepEqual(arr('induction_lab/induction_strength').slice(0, 8), ms[0].inductionStrength);
  f.close();

  const e = new h5.File(path.join(out, 'eval_data.h5'), 'r');
  const task = await loadTaskData(config.data);
  const [fslTrain] = task.evalSets(config.train.evalSeed);
  assert.deepEqual(ds(e, 'fsl_train/examples').shape, [24, 3, 512]);
  assert.deepEqual(Array.from(ds(e, 'fsl_train/labels').value, Number), Array.from(fslTrain.batch.labels));
  const x = ds(e, 'fsl_train/examples').value as Float32Array;
  const { bank } = task;
  const row = (fslTrain.batch.classes[0] * bank.exemplars + fslTrain.batch.exemplarIdx[0]) * bank.dim;
  assert.deepEqual(x.subarray(0, 512), bank.data.subarray(row, row + 512));
  e.close();
});

test('icl-dynamics: each clamp kind maps to its opto option; what the reference cannot say is listed', () => {
  const m = { depth: 2, numHeads: 8, contextLen: 2 };
  const { opts, unmapped } = optoOptions(
    normalizeClamps(
      [
        { kind: 'induction', heads: ['L2H3'], strength: 0.8 },
        { kind: 'induction', heads: ['L2H4'], strength: 0.6 },
        { kind: 'match', heads: ['L2H6'], temperature: 0.5 },
        { kind: 'silence-non-label', heads: ['L2H1'] },
        { kind: 'temperature', heads: ['L1H4'], temperature: 2 },
        { kind: 'disallow-prev-token', heads: ['L1H0'], labelRowsOnly: true },
        { kind: 'preserve', what: ['values', 'patterns'] },
        { kind: 'ablate-embedding' },
        { kind: 'copy', head: 'L2H3' },
        { kind: 'layer1' },
      ],
      m,
    ),
    2,
    8,
  );
  assert.deepEqual(opts.opto_induction_heads, ['1:3', '1:4']);
  assert.equal(opts.opto_induction_head_strength, 0.8);
  assert.ok(unmapped.some((u) => /opto_induction_head_strength is one value for every head/.test(u)));
  assert.deepEqual(opts.opto_match_heads, ['1:6']);
  assert.equal(opts.opto_match_head_temperature, 0.5);
  assert.deepEqual(opts.opto_final_layer_silence_non_label_attn, [1]);
  assert.deepEqual(opts.opto_set_head_temperature, ['0:4:2']);
  assert.deepEqual(opts.opto_disallow_prev_token_heads, ['0:0']);
  assert.equal(opts.opto_disallow_prev_token_only_label, true);
  assert.equal(opts.opto_preserve_values, true);
  assert.equal(opts.opto_preserve_patterns, true);
  assert.equal(opts.opto_preserve_keys, false);
  assert.equal(opts.opto_ablate_embedding, true);
  assert.equal(opts.opto_perfect_copy_from_head_pattern, '1:3');
  assert.equal(opts.opto_specific_fn, 'perfect_prev_token_input');
  const paths = optoOptions(
    normalizeClamps([{ kind: 'stop-gradient', sender: 'L1H2', receiver: 'L2H3', input: 'k' }], m),
    2,
    8,
  );
  assert.ok(
    paths.unmapped.some((u) => /stop-gradient.*the reference has no path clamps/.test(u)),
    'path clamps are listed',
  );
});

test('eval-sets: the evaluators the metrics were computed on, exemplars gathered from the features', async () => {
  const out = path.join(tmp(), 'e.safetensors');
  const r = await exp({ run, format: 'eval-sets', out });
  assert.match(r.said[0], /fsl_train, fsl_val_rl, fsl_train_valex, fsl_test_class: 96 sequences/);
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(fs.readFileSync(out)), out);
  assert.equal(metadata.format, 'induction-lab/eval-sets-v1');
  assert.deepEqual(JSON.parse(metadata.sets), ['fsl_train', 'fsl_val_rl', 'fsl_train_valex', 'fsl_test_class']);
  const task = await loadTaskData(config.data);
  for (const { spec, batch } of task.evalSets(config.train.evalSeed)) {
    assert.deepEqual(tensors.get(`${spec.name}.labels`)!.data, batch.labels);
    assert.deepEqual(tensors.get(`${spec.name}.correct`)!.data, batch.correct);
    assert.deepEqual(tensors.get(`${spec.name}.exemplars`)!.shape, [24, 3, 512]);
  }
  // Training exemplars: the query vector is the matching context exemplar (spec §1.1).
  const x = tensors.get('fsl_train.exemplars')!.data as Float32Array;
  const c = tensors.get('fsl_train.correct')!.data as Uint8Array;
  const item = (b: number, i: number) => x.subarray((b * 3 + i) * 512, (b * 3 + i + 1) * 512);
  for (let b = 0; b < 24; b++) assert.deepEqual(item(b, 2), item(b, c[b]));
});

test('--tensorboard DIR for an older run: each evaluation once, LLC results, a re-export replaces', async () => {
  const copy = path.join(tmp(), 'old');
  fs.cpSync(run, copy, { recursive: true });
  fs.rmSync(path.join(copy, 'tensorboard'), { recursive: true, force: true });
  fs.mkdirSync(path.join(copy, 'llc'));
  fs.writeFileSync(path.join(copy, 'llc', 'llc.csv'), 'sequences,llc,llc_std\n96,12.5,0.5\n192,20.25,\n');
  const out = path.join(tmp(), 'tb');
  const r = await exp({ run: copy, tensorboard: out });
  assert.match(r.said[0], /\(4 evaluations, \d+ scalars, 2 LLC points\)/);
  await exp({ run: copy, tensorboard: out }); // again, into the same folder
  const files = fs.readdirSync(out).sort();
  assert.equal(files.length, 2);
  const evs = files.flatMap((f) => readEvents(path.join(out, f)));
  // TensorBoard's view: a START at 0 drops everything before it.
  const lastStart = evs.map((e) => !!e.start).lastIndexOf(true);
  const view = evs.slice(lastStart).filter((e) => e.scalars.size);
  const ms = metrics(copy);
  assert.deepEqual(
    view.filter((e) => e.scalars.has('fsl_train/loss')).map((e) => e.step),
    ms.map((m) => m.sequences),
  );
  const llc = view.filter((e) => e.scalars.has('llc/llc'));
  assert.deepEqual(
    llc.map((e) => [e.step, e.scalars.get('llc/llc')]),
    [
      [96, 12.5],
      [192, 20.25],
    ],
  );
  assert.equal(llc[1].scalars.has('llc/llc_std'), false, 'empty cell: no point');
  const wall = view.map((e) => e.wallTime);
  assert.deepEqual(
    wall,
    [...wall].sort((a, b) => a - b),
    'event times increase',
  );
});

test('a run that is still training exports its complete evaluations and says so', async () => {
  const live = path.join(tmp(), 'live');
  fs.cpSync(run, live, { recursive: true });
  const rj = JSON.parse(fs.readFileSync(path.join(live, 'run.json'), 'utf8'));
  fs.writeFileSync(path.join(live, 'run.json'), JSON.stringify({ ...rj, status: 'running' }));
  fs.appendFileSync(path.join(live, 'metrics.jsonl'), '{"sequences":256,"step":8,"eval":{"fsl_tr');
  const r = await exp({ run: live, format: 'csv', out: path.join(live, 'm.csv') });
  assert.deepEqual(r.notes, [
    'note: run live is still training: exporting a snapshot up to the last complete ' +
      'evaluation (4 evaluations, 192 of 192 sequences)',
  ]);
  assert.equal(fs.readFileSync(path.join(live, 'm.csv'), 'utf8').trim().split('\r\n').length, 5);
  await assert.rejects(
    exp({ run: live, format: 'tensorboard' }),
    /run live is still training and writes .*tensorboard itself; export its events to another folder/,
  );
});

function cli(args: string[]) {
  const r = spawnSync(process.execPath, cliArgv(args), { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('CLI: unknown format, unwritable output, missing run: one line, exit 2; outputs default to the run folder', () => {
  let r = cli(['export', run, '--format', 'hdf6']);
  assert.equal(r.code, 2);
  assert.equal(
    r.err,
    'induction-lab: unknown export format "hdf6" (known: tensorboard, icl-dynamics, csv, parquet, eval-sets)\n',
  );
  const blocker = path.join(tmp(), 'file');
  fs.writeFileSync(blocker, 'x');
  r = cli(['export', run, '--format', 'icl-dynamics', path.join(blocker, 'out')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^induction-lab: cannot write to .*file\/out: (ENOTDIR|EEXIST)[^\n]*\n$/);
  r = cli(['export', path.join(blocker, '..', 'nope'), '--tensorboard', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^induction-lab: not a run folder: .*nope/);
  r = cli(['export', run]);
  assert.equal(r.code, 2);
  assert.match(r.err, /export needs --tensorboard DIR or --format FORMAT/);
  r = cli(['export', run, '--format', 'csv']);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.startsWith(`wrote ${path.join(run, 'metrics.csv')} (4 rows`), r.out);
});
