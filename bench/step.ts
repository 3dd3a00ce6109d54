/**
 * Training-step benchmark: implementation × batch size → ms per step (median after warm-up), steps/s, and
 * the ratio to the fast path's batch-32 time measured in the same run. One step = sample → inputs →
 * forward → backward → Adam, as the trainer does it. Run: npx tsx bench/step.ts [--quick] [--no-torch] [--no-wall | --only-wall | --only-fast] [--full]
 *
 *  fast + adam.ts        src/engine/fast (WebAssembly kernels) + the engine's JavaScript Adam (train/adam.ts)
 *  fast + FastAdam       the same with the WebAssembly Adam (float32 arithmetic, the default)
 *  fast + FastAdam exact the WebAssembly Adam bit-identical to adam.ts (double arithmetic)
 *  fast (simd build)     the plain-SIMD128 kernels (what Node 20 runs without relaxed SIMD)
 *  fast, no dedup        without embedding identical exemplar rows once
 *  fast engine: CLAMP    the trainer's fast engine (train/engines.ts: host overrides built per batch, the
 *                        layer-1 / copy passes folded) with the Fig 5b clamps of each condition
 *  tfjs-wasm, tfjs-cpu   the TensorFlow.js reference engine, as src/engine/train/trainer.ts steps
 *  pytorch               bench/torch_step.py (PyTorch + OpenBLAS, one thread), when /usr/bin/python3 has torch
 *
 * The fast variants run interleaved (rounds of a few steps each), so that load from other processes on a
 * shared machine falls on all of them alike; medians are reported, with the 10th percentile beside them.
 */
import * as v8 from 'node:v8';
// Relaxed SIMD is behind a flag in Node 20 (on by default from Node 22 / Electron 25); enable it so both
// builds can be compared. Must run before any WebAssembly module is compiled.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tf, initBackend } from '../src/engine/model/tf';
import { loadTaskData, TaskData, Batch } from '../src/engine/data';
import { DEFAULT_MODEL_CONFIG } from '../src/engine/model/config';
import { initParams, Params } from '../src/engine/model/params';
import { TfWeights, batchInputs } from '../src/engine/model/tfModel';
import { forward, crossEntropy } from '../src/engine/model/forward';
import { adamInit, adamStep, DEFAULT_ADAM } from '../src/engine/train/adam';
import { Rng } from '../src/engine/data/rng';
import { FastModel, FastAdam, fastBatch, wasmVariantSupported } from '../src/engine/fast';
import { createEngine } from '../src/engine/train/engines';
import { fig5bConditions } from '../src/engine/science/conditions';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const SIZES = [32, 256];
const c = DEFAULT_MODEL_CONFIG;

interface Row {
  name: string;
  batch: number;
  times: number[];
}
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const pct = (a: number[], q: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor(q * (s.length - 1))] : NaN;
};

type Stepper = () => void;

async function main(): Promise<void> {
  if (args.has('--only-wall')) {
    console.log(await wallTimes());
    return;
  }
  const task = await loadTaskData(TaskData.DEFAULT_DATA_CONFIG);
  const pools = new Map<number, Batch[]>(
    SIZES.map((B) => [B, Array.from({ length: 32 }, (_, i) => task.sampleBatch(new Rng(0, i + 1), B))]),
  );
  const rows: Row[] = [];
  const env = [
    `node ${process.versions.node}, V8 ${process.versions.v8}, ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} at start`,
    `fast path WebAssembly builds available: ${['simd', 'relaxed'].filter((v) => wasmVariantSupported(v as 'simd')).join(', ')}`,
  ];

  // ---- fast path variants, interleaved ----
  const fastVariants: Array<{ name: string; make: (B: number) => Stepper }> = [
    {
      name: 'fast + adam.ts',
      make: (B) => {
        const m = new FastModel(c);
        const params: Params = initParams(c, 5),
          st = adamInit(params);
        let i = 0;
        return () => {
          const r = m.run(params, fastBatch(task.bank, pools.get(B)![i++ % 32], m), { backward: true });
          adamStep(DEFAULT_ADAM, st, params, r.grads!);
        };
      },
    },
    ...(
      [
        ['fast + FastAdam', {}],
        ['fast + FastAdam exact', { exact: true }],
        ['fast (simd build) + FastAdam', { wasm: 'simd' }],
        ['fast, no dedup + FastAdam', { dedup: false }],
      ] as const
    ).map(([name, o]) => ({
      name,
      make: (B: number): Stepper => {
        const m = new FastModel(c, { wasm: 'wasm' in o ? o.wasm : 'auto', dedup: 'dedup' in o ? o.dedup : true });
        const adam = new FastAdam(m, { exact: 'exact' in o ? o.exact : false });
        const init = initParams(c, 5),
          p = m.paramViews();
        for (const k of Object.keys(p)) p[k].set(init[k]);
        let i = 0;
        return () => {
          m.run(p, fastBatch(task.bank, pools.get(B)![i++ % 32], m), { backward: true });
          adam.step(DEFAULT_ADAM);
        };
      },
    })),
  ];
  // The trainer's fast engine on each Fig 5b condition (its clamps; the multi-pass ones folded).
  const engines = new Map<string, Awaited<ReturnType<typeof createEngine>>>();
  for (const cond of fig5bConditions())
    for (const B of SIZES) {
      engines.set(
        `${cond.name}/${B}`,
        await createEngine('fast', 'auto', c, task.bank, cond.config.clamps!, initParams(c, 5), null),
      );
    }
  for (const cond of fig5bConditions()) {
    fastVariants.push({
      name: `fast engine: ${cond.label}`,
      make: (B) => {
        const e = engines.get(`${cond.name}/${B}`)!;
        let i = 0;
        return () => {
          e.step(pools.get(B)![i++ % 32], 0, DEFAULT_ADAM.lr);
        };
      },
    });
  }
  for (const B of SIZES) {
    const steppers = fastVariants.map((v) => ({ name: v.name, step: v.make(B), times: [] as number[] }));
    const warm = B === 32 ? 200 : 30,
      rounds = QUICK ? 10 : 40,
      per = B === 32 ? 25 : 5;
    for (const s of steppers) for (let i = 0; i < warm; i++) s.step();
    for (let r = 0; r < rounds; r++)
      for (const s of steppers)
        for (let i = 0; i < per; i++) {
          const t = performance.now();
          s.step();
          s.times.push(performance.now() - t);
        }
    for (const s of steppers) rows.push({ name: s.name, batch: B, times: s.times });
    process.stderr.write(`fast path B=${B} done\n`);
  }

  // ---- TensorFlow.js, as the trainer steps ----
  for (const backend of args.has('--only-fast') ? [] : (['wasm', 'cpu'] as const)) {
    await initBackend(backend);
    const params = initParams(c, 5),
      st = adamInit(params);
    const w = new TfWeights(c, params);
    const nameOf = new Map(Object.entries(w.vars).map(([k, v]) => [v.name, k]));
    const vars = Object.values(w.vars);
    for (const B of SIZES) {
      let i = 0;
      const step = () => {
        const batch = pools.get(B)![i++ % 32];
        const grads = tf.tidy(() => {
          const inputs = batchInputs(task.bank, batch);
          const targets = tf.tensor1d(
            Int32Array.from({ length: B }, (_, b) => batch.labels[b * 3 + 2]),
            'int32',
          );
          const { value, grads: g } = tf.variableGrads(
            () => crossEntropy(forward(c, w.weights, inputs).logits, targets),
            vars,
          );
          value.dataSync();
          const out: Partial<Params> = {};
          for (const [n, t] of Object.entries(g)) out[nameOf.get(n)!] = t.dataSync() as Float32Array;
          return out;
        });
        adamStep(DEFAULT_ADAM, st, params, grads);
        w.assign(params);
      };
      const cpu = backend === 'cpu';
      const warm = cpu ? 2 : 5,
        n = QUICK ? (cpu ? 3 : 10) : cpu ? (B === 32 ? 15 : 4) : B === 32 ? 60 : 12;
      for (let k = 0; k < warm; k++) step();
      const times: number[] = [];
      for (let k = 0; k < n; k++) {
        const t = performance.now();
        step();
        times.push(performance.now() - t);
      }
      rows.push({ name: `tfjs-${backend}`, batch: B, times });
      process.stderr.write(`tfjs-${backend} B=${B} done\n`);
    }
    w.dispose();
  }

  // ---- PyTorch peer (installed through apt when absent and we are root) ----
  if (!args.has('--no-torch') && !args.has('--only-fast')) {
    const py = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
    let probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0 && process.getuid?.() === 0) {
      process.stderr.write('installing python3-torch and libopenblas0-pthread through apt (one time)…\n');
      spawnSync('apt-get', ['update'], { stdio: 'ignore' });
      spawnSync('apt-get', ['install', '-y', 'python3-torch', 'libopenblas0-pthread'], {
        stdio: 'ignore',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
      probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    }
    if (probe.status === 0) {
      const blas = '/usr/lib/x86_64-linux-gnu/openblas-pthread';
      const r = spawnSync(py, [path.join(__dirname, 'torch_step.py'), ...SIZES.map(String)], {
        encoding: 'utf8',
        env: {
          ...process.env,
          LD_LIBRARY_PATH: [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
          OMP_NUM_THREADS: '1',
          OPENBLAS_NUM_THREADS: '1',
        },
        maxBuffer: 1 << 26,
      });
      if (r.status === 0) {
        const out = JSON.parse(r.stdout) as Record<string, unknown>;
        for (const B of SIZES) rows.push({ name: 'pytorch', batch: B, times: out[String(B)] as number[] });
        env.push(`pytorch ${out.torch as string}, OpenBLAS from ${blas}, 1 thread`);
      } else env.push(`pytorch: bench/torch_step.py failed: ${r.stderr.trim().split('\n').pop()}`);
    } else
      env.push(`pytorch: not measured (${py} cannot import torch; apt-get install python3-torch libopenblas0-pthread)`);
  }

  // ---- table ----
  const ref = median(rows.find((r) => r.name === 'fast + adam.ts' && r.batch === 32)!.times);
  const torch32 = rows.find((r) => r.name === 'pytorch' && r.batch === 32);
  const names = [...new Set(rows.map((r) => r.name))];
  const lines: string[] = [];
  // FLOP limit (notes/engine-performance.md): 45.4 MFLOP per batch-32 step ÷ one core's AVX-512 peak ≈ 300 GFLOP/s.
  const flopLimitMs = (B: number) => ((45.4e6 * (B / 32)) / 300e9) * 1000;
  lines.push(
    `| implementation | batch | ms/step (median) | p10 | steps/s | sequences/s | ÷ fast+adam.ts B=32 | × FLOP limit |${torch32 ? ' speed-up vs pytorch |' : ''}`,
  );
  lines.push(`|---|---:|---:|---:|---:|---:|---:|---:|${torch32 ? '---:|' : ''}`);
  for (const n of names)
    for (const B of SIZES) {
      const r = rows.find((x) => x.name === n && x.batch === B);
      if (!r) continue;
      const med = median(r.times);
      const torch = rows.find((x) => x.name === 'pytorch' && x.batch === B);
      lines.push(
        `| ${n} | ${B} | ${med.toFixed(3)} | ${pct(r.times, 0.1).toFixed(3)} | ${(1000 / med).toFixed(1)} | ${((1000 / med) * B).toFixed(0)} | ${(med / ref).toFixed(2)} | ${(med / flopLimitMs(B)).toFixed(1)} |${torch32 ? ` ${torch ? (median(torch.times) / med).toFixed(2) + '×' : ''} |` : ''}`,
      );
    }
  env.push(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} at end; n = ${names
      .map(
        (n) =>
          `${n}: ${rows
            .filter((r) => r.name === n)
            .map((r) => r.times.length)
            .join('/')}`,
      )
      .join(', ')}`,
  );
  console.log(lines.join('\n'));
  console.log('\n' + env.map((e) => `- ${e}`).join('\n'));
  if (!args.has('--no-wall') && !args.has('--only-fast')) console.log('\n' + (await wallTimes()));
}

/**
 * Wall time of whole runs as the trainer does them (sampling, evaluation every N sequences, checkpoints):
 * the paper's main run and the Fig 5b sweep at paper scale. Measured on a fraction of each run
 * (default 2 %, `--full` for all of it) and scaled up; the Fig 5b sweep is scheduled on one worker per core.
 */
async function wallTimes(): Promise<string> {
  const fs = await import('node:fs');
  const { resolvePreset } = await import('../src/engine/science/presets');
  const { runTraining } = await import('../src/engine/train/trainer');
  const { RunDir } = await import('../src/engine/io');
  const frac = args.has('--full') ? 1 : QUICK ? 0.005 : 0.02;
  // The step benchmark above left TensorFlow.js on its last backend (cpu); runs pick the best one.
  await initBackend('wasm');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bench-'));
  const measure = async (name: string, scale: 'paper' | 'fast') => {
    const cfg = resolvePreset(name, scale);
    const full = cfg.train.sequences;
    cfg.train.sequences = Math.max(
      cfg.train.batchSize * 20,
      Math.round((full * frac) / cfg.train.batchSize) * cfg.train.batchSize,
    );
    cfg.train.checkpointEvery = 0;
    let engine = '';
    const t0 = performance.now();
    await runTraining(cfg, RunDir.create(root, name.replace(/[^\w.-]/g, '_')), {
      emit: (m) => {
        if (m.type === 'started') engine = m.engine;
      },
      shouldStop: () => false,
    });
    const s = ((performance.now() - t0) / 1000) * (full / cfg.train.sequences);
    return { name, engine, seconds: s, full };
  };
  const rows = [await measure('paper', 'paper')];
  const fig5b = [] as typeof rows;
  for (const n of fig5bConditions().map((c) => c.name)) fig5b.push(await measure(`fig5b.${n}`, 'paper'));
  // Longest-first onto one worker per core.
  const workers = new Array<number>(Math.max(1, os.availableParallelism())).fill(0);
  for (const r of [...fig5b].sort((a, b) => b.seconds - a.seconds)) {
    const i = workers.indexOf(Math.min(...workers));
    workers[i] += r.seconds;
  }
  const fmt = (s: number) =>
    s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`;
  const out = [
    `Wall time at paper scale (${frac === 1 ? 'measured in full' : `measured on ${(frac * 100).toFixed(1)} % of each run and scaled`}):`,
    '',
    '| run | engine | sequences | wall time |',
    '|---|---|---:|---:|',
  ];
  for (const r of [...rows, ...fig5b])
    out.push(`| ${r.name} | ${r.engine} | ${r.full.toLocaleString('en-US')} | ${fmt(r.seconds)} |`);
  out.push(`| Fig 5b sweep on ${workers.length} workers | | | ${fmt(Math.max(...workers))} |`);
  fs.rmSync(root, { recursive: true, force: true });
  return out.join('\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
