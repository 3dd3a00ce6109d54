/**
 * LLC and essential-dynamics benchmark: the three speed goals, each with a baseline measured in
 * the same run (ratios, not absolute times, carry over between machines).
 *
 *   1. LLC, 10 chains × 100 draws, minibatch 32, one checkpoint, one core (this thread), against the same
 *      number of bare forward + backward passes of the fast engine (the floor: what SGLD adds to it),
 *      against the same SGLD with w and ∇L copied between the model's memory and a kernel of its own every
 *      step (the path before the kernel moved into the model's memory), and against the same SGLD with the
 *      noise drawn in JavaScript (Rng.normal, Box–Muller) instead of the WebAssembly ziggurat.
 *   2. per-head LLC for all 16 heads (same setting) on two worker threads, against one.
 *   3. essential dynamics over 100 checkpoints with a 1,024-sequence probe set (logits), and with the 16
 *      query-row patterns too.
 *
 * Run: npx tsx bench/llc.ts [RUN_DIR]   (RUN_DIR: a `fast` run with ≥ 100 checkpoints; without it one is
 * trained first into a temp folder, ≈ 10–20 s on a quiet machine). --quick: fewer repeats.
 */
import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveRunConfig } from '../src/engine/train/runConfig';
import { presetConfig } from '../src/engine/science/presets';
import { runTraining } from '../src/engine/train/trainer';
import { RunDir } from '../src/engine/io';
import { readCheckpoint } from '../src/engine/model/checkpoint';
import { loadTaskData } from '../src/engine/data';
import { Rng } from '../src/engine/data/rng';
import { FastModel, fastBatch } from '../src/engine/fast';
import { allRanges, defaultNbeta, estimateLlc, SgldTarget } from '../src/engine/llc/sampler';
import { SgldKernel } from '../src/engine/llc/kernel';
import { flatten, transformerTarget, allHeads } from '../src/engine/llc/transformerTarget';
import { LLC_DEFAULTS } from '../src/engine/llc/command';
import { LlcPool } from '../src/engine/llc/pool';
import type { LlcJob } from '../src/engine/llc/jobs';
import { dynamicsCommand } from '../src/engine/dynamics/command';

const QUICK = process.argv.includes('--quick');
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};

async function fastRun(): Promise<string> {
  const given = process.argv.slice(2).find((a) => !a.startsWith('--'));
  if (given) return given;
  const cfg = resolveRunConfig({ train: { checkpointEvery: 2000 }, data: { evalSize: 200 } }, presetConfig('fast'));
  const rd = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-bench-llc-')), 'fast');
  process.stderr.write(`training a fast run with a checkpoint every 2,000 sequences → ${rd.path}\n`);
  await runTraining(cfg, rd, { emit: () => {}, shouldStop: () => false });
  return rd.path;
}

async function main(): Promise<void> {
  const runPath = await fastRun();
  const rd = RunDir.open(runPath);
  const run = resolveRunConfig(rd.readRunJson<{ config: unknown }>().config);
  const refs = rd.listCheckpoints();
  const ref = refs.find((r) => r.sequences >= 0.3 * refs[refs.length - 1].sequences) ?? refs[refs.length - 1];
  const task = await loadTaskData(run.data);
  const w0 = flatten(run.model, readCheckpoint(ref.path, run.model).params);
  const target = transformerTarget({ config: run.model, task, clamps: [], sequences: ref.sequences, batchSize: 32 });
  const o = { ...LLC_DEFAULTS };
  const steps = o.chains * o.draws;
  const reps = QUICK ? 1 : 3;
  const env = `node ${process.versions.node}, ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} at start`;

  // 1. one estimate on one core, interleaved with its baselines.
  const model = new FastModel(run.model);
  const pv = model.paramViews();
  for (const [k, v] of Object.entries(readCheckpoint(ref.path, run.model).params)) pv[k].set(v);
  const batches = Array.from({ length: 64 }, (_, i) => task.sampleBatch(new Rng(9, i), 32));
  const bare = () => {
    for (let i = 0; i < steps; i++) model.run(pv, fastBatch(task.bank, batches[i % 64], model), { backward: true });
  };
  /** The same target without hostKernel: its own kernel memory, w copied in and ∇L copied out per step. */
  const copying: SgldTarget = {
    size: target.size,
    batchSize: 32,
    divergenceLoss: (l) => target.divergenceLoss!(l),
    drawBatch: (r) => target.drawBatch(r),
    load: (w) => target.load(w),
    update: (w, rg) => target.update(w, rg),
    evaluate: (b, g, rg) => target.evaluate(b as never, g, rg),
  };
  /** The same target with the noise drawn in JavaScript on top (to price the WebAssembly noise). */
  const jsNoise: SgldTarget = {
    ...copying,
    hostKernel: () => target.hostKernel!(),
    evaluate: (b, g, rg) => {
      const r = new Rng(1, 2),
        n = target.size;
      let s = 0;
      for (let i = 0; i < n; i++) s += r.normal();
      return target.evaluate(b as never, g, rg) + 0 * s;
    },
  };
  /** The WebAssembly step alone (noise, update, sums) over every weight: its share of an SGLD step. */
  const kernel = new SgldKernel(target.size);
  kernel.setRanges(allRanges(target.size));
  kernel.w.set(w0);
  kernel.w0.set(w0);
  kernel.seed(1, 2);
  const kernelSteps = () => {
    for (let i = 0; i < steps; i++) kernel.step(o.epsilon, defaultNbeta(32), o.gamma, i > 0);
  };
  const t: Record<string, number[]> = { bare: [], llc: [], copy: [], js: [], kernel: [] };
  let last = estimateLlc(target, w0, o);
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now();
    bare();
    t.bare.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    last = estimateLlc(target, w0, o);
    t.llc.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    estimateLlc(copying, w0, o);
    t.copy.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    estimateLlc(jsNoise, w0, o);
    t.js.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    kernelSteps();
    t.kernel.push((performance.now() - t0) / 1000);
  }
  const sBare = median(t.bare),
    sLlc = median(t.llc),
    sCopy = median(t.copy),
    sJs = median(t.js),
    sKernel = median(t.kernel);

  // 2. per-head LLC for every head: 16 estimates on 2 worker threads, then on 1.
  const heads = allHeads(run.model);
  const jobs = (): LlcJob[] =>
    heads.map((h, id) => ({
      id,
      runDir: runPath,
      sequences: ref.sequences,
      clean: false,
      head: h,
      options: { ...o },
      batchSize: 32,
      engine: 'auto',
    }));
  const timePool = async (workers: number): Promise<number> => {
    const pool = new LlcPool(workers);
    try {
      // Warm-up: start the threads, load the run and the checkpoint (a one-chain, two-draw job each).
      await pool.run(
        jobs()
          .slice(0, workers)
          .map((j) => ({ ...j, options: { ...j.options, chains: 1, draws: 2 } })),
      );
      const t0 = performance.now();
      await pool.run(jobs());
      return (performance.now() - t0) / 1000;
    } finally {
      await pool.close();
    }
  };
  const ph2 = await timePool(2);
  const ph1 = QUICK ? NaN : await timePool(1);

  // 3. essential dynamics over 100 checkpoints (the first 100 of the run; a 1,024-sequence probe set).
  const edRun = refs.length >= 100 ? runPath : null;
  const quiet = { out: () => {}, err: () => {} };
  let ed = NaN,
    edP = NaN;
  if (edRun) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bench-ed-'));
    const sub = RunDir.create(tmp, 'ed100');
    fs.copyFileSync(rd.runJsonPath, sub.runJsonPath);
    for (const r of refs.slice(0, 100)) fs.copyFileSync(r.path, sub.checkpointPath(r.sequences));
    let t0 = performance.now();
    await dynamicsCommand({ runDir: sub.path, probe: '1024', progress: 'none' }, quiet);
    ed = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await dynamicsCommand({ runDir: sub.path, probe: '1024', patterns: true, progress: 'none' }, quiet);
    edP = (performance.now() - t0) / 1000;
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
  console.log(`# LLC benchmark (${env})`);
  console.log(
    `run ${runPath}, checkpoint ${ref.sequences}; SGLD ε ${o.epsilon}, γ ${o.gamma}, nβ m/ln m, ${o.chains} chains ` +
      `× ${o.draws} draws, minibatch 32`,
  );
  console.log(`estimate at that checkpoint: ${last.mean.toFixed(3)} ± ${last.std.toFixed(3)}\n`);
  console.log('| figure | goal | measured (s) | baseline in the same run | ratio |');
  console.log('|---|---|---:|---|---:|');
  console.log(
    `| LLC, 10 × 100, one checkpoint, one core | ≤ 1 s | ${f(sLlc)} | ${steps} bare forward + backward passes: ` +
      `${f(sBare)} s | ${f(sLlc / sBare)} |`,
  );
  console.log(
    `| the same, w and ∇L copied between two memories per step | — | ${f(sCopy)} | the in-place estimate: ` +
      `${f(sLlc)} s | ${f(sCopy / sLlc)} |`,
  );
  console.log(
    `| the same, noise drawn in JavaScript (Box–Muller) | — | ${f(sJs)} | the WebAssembly-noise estimate: ` +
      `${f(sLlc)} s | ${f(sJs / sLlc)} |`,
  );
  // --quick skips the one-thread run; the one-core model estimate above is then the same-run baseline.
  console.log(
    Number.isFinite(ph1)
      ? `| per-head LLC, all 16 heads, 2 worker threads | ≤ 15 s | ${f(ph2)} | 1 worker thread: ${f(ph1)} s | ` +
          `${f(ph1 / ph2)} |`
      : `| per-head LLC, all 16 heads, 2 worker threads | ≤ 15 s | ${f(ph2)} | the one-core model estimate ` +
          `above: ${f(sLlc)} s | ${f(ph2 / sLlc)} |`,
  );
  console.log(
    `| essential dynamics, 100 checkpoints, 1,024 probe sequences (logits) | ≤ 10 s | ${f(ed)} | with the 16 ` +
      `query-row patterns: ${f(edP)} s | ${f(edP / ed)} |`,
  );
  console.log(
    `\nmedian of ${reps} for the single-core rows; per-step: SGLD ${((1000 * sLlc) / steps).toFixed(3)} ms, bare ` +
      `pass ${((1000 * sBare) / steps).toFixed(3)} ms, copying SGLD ${((1000 * sCopy) / steps).toFixed(3)} ms; the WebAssembly SGLD step alone (${target.size} normals, the update ` +
      `and its sums) ${((1000 * sKernel) / steps).toFixed(3)} ms = ${(sKernel / sBare).toFixed(2)} of a bare pass`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
