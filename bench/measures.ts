/**
 * Measures benchmark (issue 11's speed table), every ratio measured in the same run:
 *
 *  1. the influence matrix of spec §5.6, all kinds (264 configurations), one checkpoint, 2,000 sequences:
 *     the TensorFlow.js engine (the path every measure took before they moved to the fast engine) against
 *     the fast engine (one core);
 *  2. the same on the dense 78,400-sequence set on the fast engine, one process; and `measure --what
 *     influence-matrix` on that set in one process against its configurations split over 2 worker
 *     processes (`--workers 2`, the default on 2 cores), whole commands timed (forks, contexts, Table 1);
 *  3. the share that evaluation takes in paper-scale Fig 5b runs: CPU time of one evaluation against the
 *     training steps between two (evalEvery 1,000 sequences), and the wall time of each condition trained
 *     for a slice of its 6e5 sequences with its evaluations and again without them.
 *
 *   npx tsx bench/measures.ts [--quick] [--tfjs-configs N] [--no-tfjs] [--no-dense] [--no-split] [--no-eval] [--no-wall]
 *                             [--eval-fraction F]
 *
 * --no-influence skips tables 1 and 2's fast/TF.js rows. --quick times the TF.js engine on the first 24 configurations only and scales by configurations (marked
 * "extrapolated"); --tfjs-configs N chooses how many. Checkpoint: a `fast`-preset model trained for
 * 3.2e4 sequences (trained weights, so the accuracies are not chance), made in a temp folder.
 */
import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../src/engine/model/tf';
import { loadTaskData, TaskData } from '../src/engine/data';
import { Params, initParams } from '../src/engine/model/params';
import { RunConfig } from '../src/engine/train/runConfig';
import { presetConfig } from '../src/engine/science/presets';
import { resolvePreset } from '../src/engine/science/presets';
import { runTraining } from '../src/engine/train/trainer';
import { readCheckpoint } from '../src/engine/model/checkpoint';
import { RunDir } from '../src/engine/io';
import { makeMeasureContext, disposeContext, MeasureContext, denseEvalMany } from '../src/engine/measures/dense';
import { influenceMatrix } from '../src/engine/measures/influence';
import { measureCommand } from '../src/engine/measures/command';
import { ablateClamp, onlyHeadsClamp } from '../src/engine/measures/ablations';
import { ClampSpec } from '../src/engine/clamps/spec';
import type { EnginePreference } from '../src/engine/forward';
import { createEngine } from '../src/engine/train/engines';
import { evaluate } from '../src/engine/train/evaluate';
import { Rng } from '../src/engine/data/rng';
import { fig5bConditions } from '../src/engine/science/conditions';

const argv = process.argv.slice(2);
const flag = (k: string) => argv.includes(k);
const value = (k: string) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('--quick');
const TFJS_CONFIGS = Number(value('--tfjs-configs') ?? (QUICK ? 24 : 264));
const EVAL_FRACTION = Number(value('--eval-fraction') ?? (QUICK ? 0.05 : 0.1));
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const fmt = (s: number) => (s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(2));
/** Wall and CPU seconds of fn (CPU: this process, user + system — what one dedicated core would take). */
function timed<T>(fn: () => T): { wall: number; cpu: number; value: T } {
  const c0 = process.cpuUsage(),
    t0 = performance.now();
  const value = fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, value };
}

/** The 264 influence configurations in influenceMatrix's order (for timing a prefix on TF.js). */
function influenceConfigs(ctx: MeasureContext): ClampSpec[][] {
  const c = ctx.config,
    PV: ClampSpec = { kind: 'preserve', what: ['values'] },
    PP: ClampSpec = { kind: 'preserve', what: ['patterns'] };
  const out: ClampSpec[][] = [];
  for (let i = 0; i < c.numHeads; i++) {
    const only = onlyHeadsClamp(c, 1, [i]);
    out.push(only);
    for (let j = 0; j < c.numHeads; j++) {
      out.push(
        [...only, ...ablateClamp(0, [j]), PV],
        [...only, ...ablateClamp(0, [j]), PP],
        [...only, ...onlyHeadsClamp(c, 0, [j]), PV],
        [...only, ...onlyHeadsClamp(c, 0, [j]), PP],
      );
    }
  }
  return out;
}

async function trainedCheckpoint(root: string): Promise<{ run: RunConfig; params: Params; dir: string }> {
  const cfg = presetConfig('fast');
  cfg.train.sequences = 32_000;
  cfg.train.evalEvery = 32_000;
  cfg.train.checkpointEvery = 0;
  const rd = RunDir.create(root, 'ckpt');
  await runTraining(cfg, rd, { emit: () => {}, shouldStop: () => false });
  return { run: cfg, params: readCheckpoint(rd.latestCheckpoint()!.path, cfg.model).params, dir: rd.path };
}

async function influenceRows(task: TaskData, run: RunConfig, params: Params): Promise<string[]> {
  const ctx = (engine: EnginePreference, subsample: number | null) =>
    makeMeasureContext({ run, params, task, sequences: 0, engine, subsample });
  const rows: string[] = [
    '| influence matrix, all kinds, one checkpoint | engine | configurations | sequences | wall time | vs TF.js |',
    '|---|---|---:|---:|---:|---:|',
  ];
  // Warm-up: kernels compiled, buffers laid out, the wasm backend's kernels loaded.
  const w = ctx('fast', 2000);
  influenceMatrix(w, { l2: [0], l1: [0] });
  disposeContext(w);
  const fastRuns: Array<{ wall: number; cpu: number }> = [];
  for (let r = 0; r < 3; r++) {
    const c = ctx('fast', 2000);
    fastRuns.push(timed(() => influenceMatrix(c)));
    disposeContext(c);
  }
  const fast = { wall: median(fastRuns.map((r) => r.wall)), cpu: median(fastRuns.map((r) => r.cpu)) };
  let tfjs: { wall: number; cpu: number } | null = null,
    tfNote = '';
  if (!flag('--no-tfjs')) {
    const c = ctx('tfjs', 2000),
      list = influenceConfigs(c).slice(0, TFJS_CONFIGS);
    denseEvalMany(c, [list[0]]); // warm-up
    c.memo.clear();
    const t = timed(() => denseEvalMany(c, list)),
      k = 264 / list.length;
    tfjs = { wall: t.wall * k, cpu: t.cpu * k };
    tfNote = list.length < 264 ? ` (${list.length} timed, extrapolated)` : '';
    disposeContext(c);
  }
  const vs = (x: { wall: number; cpu: number }, scale = 1) =>
    tfjs ? `${((tfjs.wall * scale) / x.wall).toFixed(0)}× (CPU ${((tfjs.cpu * scale) / x.cpu).toFixed(0)}×)` : '—';
  rows[0] =
    '| influence matrix, all kinds, one checkpoint | engine | configurations | sequences | wall time | CPU time | faster than TF.js |';
  rows[1] = '|---|---|---:|---:|---:|---:|---:|';
  if (tfjs)
    rows.push(
      `| 2,000-sequence subsample | TF.js, wasm backend${tfNote} | 264 | 2,000 | ${fmt(tfjs.wall)} s | ${fmt(tfjs.cpu)} s | 1× |`,
    );
  const walls = fastRuns.map((r) => fmt(r.wall)).join(', ');
  rows.push(
    `| 2,000-sequence subsample (goal ≤ 1 s, ≥ 50×) | fast, one core (wall of 3: ${walls} s) | 264 | 2,000 ` +
      `| ${fmt(fast.wall)} s | ${fmt(fast.cpu)} s | ${vs(fast)} |`,
  );
  if (!flag('--no-dense')) {
    const c = ctx('fast', null);
    const t = timed(() => influenceMatrix(c));
    disposeContext(c);
    rows.push(
      `| dense set (goal ≤ 30 s on 2 cores) | fast, one core | 264 | ${c.batch.size.toLocaleString('en')} | ${fmt(t.wall)} s | ${fmt(t.cpu)} s | ${vs(t, c.batch.size / 2000)} (TF.js scaled by sequences) |`,
    );
  }
  return rows;
}

/**
 * CPU time of one evaluation (the four eval sets, as the trainer runs it) against the 31¼ training steps
 * between two evaluations of a paper-scale Fig 5b run (evalEvery 1,000 sequences, batch 32), on the
 * trainer's own engine: the evaluation share without the noise of a shared machine's wall clock.
 */
async function evalCostRows(): Promise<string[]> {
  const rows = [
    '| Fig 5b condition (paper scale) | engine | one evaluation (CPU) | 31.25 steps (CPU) | evaluation share |',
    '|---|---|---:|---:|---:|',
  ];
  const cpu = (f: () => void) => {
    const c0 = process.cpuUsage();
    f();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  for (const n of FIG5B) {
    const cfg = resolvePreset(`fig5b.${n}`, 'paper');
    const task = await loadTaskData(cfg.data);
    const e = await createEngine(
      'auto',
      'auto',
      cfg.model,
      task.bank,
      cfg.clamps,
      initParams(cfg.model, cfg.train.initSeed),
      null,
    );
    const sets = task.evalSets(cfg.train.evalSeed);
    const batches = Array.from({ length: 31 }, (_, i) =>
      task.sampleBatch(new Rng(cfg.train.trainSeed, i + 1), cfg.train.batchSize),
    );
    const round = () => ({
      ev: cpu(() => evaluate(cfg.model, sets, e.evalForward(0))),
      tr:
        cpu(() => {
          for (const b of batches) e.step(b, 0, cfg.train.lr);
        }) *
        (31.25 / 31),
    });
    for (let w = 0; w < 3; w++) round();
    const r = Array.from({ length: QUICK ? 5 : 15 }, round);
    const ev = median(r.map((x) => x.ev)),
      tr = median(r.map((x) => x.tr));
    rows.push(
      `| fig5b.${n} | ${e.engine} | ${ev.toFixed(1)} ms | ${tr.toFixed(1)} ms | ${((100 * ev) / (ev + tr)).toFixed(0)} % |`,
    );
    e.dispose();
  }
  return rows;
}

/**
 * `measure RUN --what influence-matrix` on the dense set, whole commands: one process, then the
 * configurations split over 2 worker processes; the two results must be identical.
 */
async function splitRows(dir: string): Promise<string[]> {
  const rows = [
    '| `measure --what influence-matrix`, dense set, one checkpoint | wall time | CPU: this process | ' +
      'CPU: each worker | on 2 idle cores (≤ this process + slowest worker) |',
    '|---|---:|---:|---:|---:|',
  ];
  const once = async (workers: number) => {
    const c0 = process.cpuUsage(),
      t0 = performance.now();
    // Workers run the CLI bundle when it is built (as `node out/cli.js measure` does), not tsx's compile.
    const bundle = path.resolve(__dirname, '..', 'out', 'cli.js');
    const workerEntry = fs.existsSync(bundle) ? { file: bundle, execArgv: [] } : undefined;
    const r = await measureCommand(
      { runDir: dir, what: ['influence-matrix'], workers, force: true, workerEntry },
      () => {},
    );
    const c = process.cpuUsage(c0);
    const w = (r.workers as { configCpuSeconds: number[] } | undefined)?.configCpuSeconds ?? [];
    return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, w, result: r.results };
  };
  const one = await once(1),
    two = await once(2);
  const same = JSON.stringify(one.result) === JSON.stringify(two.result);
  rows.push(`| one process | ${fmt(one.wall)} s | ${fmt(one.cpu)} s | — | ${fmt(one.cpu)} s (one core) |`);
  const bound = two.cpu + Math.max(...two.w);
  rows.push(
    `| 2 worker processes (\`--workers 2\`; results ${same ? 'identical' : '**differ**'}) | ${fmt(two.wall)} s | ` +
      `${fmt(two.cpu)} s | ${two.w.map(fmt).join(' s, ')} s | ${fmt(bound)} s (${(one.cpu / bound).toFixed(2)}×) |`,
  );
  return rows;
}

const FIG5B = fig5bConditions().map((c) => c.name);

/** Wall time of a slice of a paper-scale run with and without its evaluations. */
async function evalShareRows(root: string): Promise<string[]> {
  const rows = [
    '| Fig 5b condition (paper scale) | sequences timed | wall with evaluations | without | evaluation share |',
    '|---|---:|---:|---:|---:|',
  ];
  const names = FIG5B;
  let withSum = 0,
    withoutSum = 0;
  for (const n of names) {
    const time = async (evals: boolean) => {
      const cfg = resolvePreset(`fig5b.${n}`, 'paper');
      cfg.train.sequences =
        Math.round((cfg.train.sequences * EVAL_FRACTION) / cfg.train.batchSize) * cfg.train.batchSize;
      cfg.train.checkpointEvery = 0;
      if (!evals) cfg.train.evalEvery = cfg.train.sequences * 10;
      const t0 = performance.now();
      await runTraining(cfg, RunDir.create(root, `${n}-${evals ? 'e' : 'n'}`), {
        emit: () => {},
        shouldStop: () => false,
      });
      return { s: (performance.now() - t0) / 1000, seq: cfg.train.sequences };
    };
    const a = await time(true),
      b = await time(false);
    withSum += a.s;
    withoutSum += b.s;
    rows.push(
      `| fig5b.${n} | ${a.seq.toLocaleString('en')} | ${fmt(a.s)} s | ${fmt(b.s)} s | ${((100 * (a.s - b.s)) / a.s).toFixed(0)} % |`,
    );
  }
  rows.push(
    `| all six | | ${fmt(withSum)} s | ${fmt(withoutSum)} s | ${((100 * (withSum - withoutSum)) / withSum).toFixed(0)} % |`,
  );
  return rows;
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bench-measures-'));
  try {
    console.log(
      `node ${process.versions.node}, ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} at start\n`,
    );
    const { run, params, dir } = await trainedCheckpoint(root);
    const task = await loadTaskData(run.data);
    if (!flag('--no-influence')) for (const l of await influenceRows(task, run, params)) console.log(l);
    if (!flag('--no-split')) {
      console.log('');
      for (const l of await splitRows(dir)) console.log(l);
    }
    if (!flag('--no-eval')) {
      console.log('');
      for (const l of await evalCostRows()) console.log(l);
      if (!flag('--no-wall')) {
        console.log('');
        for (const l of await evalShareRows(root)) console.log(l);
      }
    }
    console.log(
      `\nload average at the end ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
