/**
 * Where the fast path's time goes: wall time of its training step (forward, backward, FastAdam), then
 * per-kernel times from timing wrappers around every WebAssembly call, each call site's minimum over
 * 400 steps (robust to other processes' load).
 * Run: npx tsx bench/fast-prof.ts [auto|simd|relaxed] [B=32] [nodedup]
 * Env: FWD=1 forward only; EXACT=1 bit-exact Adam; GEMM_DETAIL=1 one line per GEMM call with its shape.
 */
import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { loadTaskData, TaskData } from '../src/engine/data';
import { DEFAULT_MODEL_CONFIG } from '../src/engine/model/config';
import { initParams } from '../src/engine/model/params';
import { DEFAULT_ADAM } from '../src/engine/train/adam';
import { Rng } from '../src/engine/data/rng';
import { FastModel, FastAdam, fastBatch } from '../src/engine/fast';

(async () => {
  const variant = (process.argv[2] ?? 'auto') as 'simd' | 'relaxed' | 'auto';
  const B = Number(process.argv[3] ?? 32);
  const task = await loadTaskData(TaskData.DEFAULT_DATA_CONFIG);
  const c = DEFAULT_MODEL_CONFIG;
  const m = new FastModel(c, { wasm: variant, dedup: process.argv[4] !== 'nodedup' });
  const adam = new FastAdam(m, { exact: process.env.EXACT === '1' });
  const p = m.paramViews();
  const init = initParams(c, 5);
  for (const k of Object.keys(p)) p[k].set(init[k]);
  const batches = Array.from({ length: 64 }, (_, i) => task.sampleBatch(new Rng(0, i + 1), B));
  let step = 0;
  const bw = process.env.FWD ? false : true;
  const one = () => {
    const b = fastBatch(task.bank, batches[step++ % batches.length], m);
    m.run(p, b, { backward: bw });
    if (bw) adam.step(DEFAULT_ADAM);
  };
  for (let i = 0; i < 300; i++) one();
  // Wall time per step.
  const ts: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = performance.now();
    one();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  console.log(
    `${m.variant} B=${B}: median ${ts[500].toFixed(3)} ms, p10 ${ts[100].toFixed(3)}, min ${ts[0].toFixed(3)}`,
  );
  // Per-kernel breakdown: each call site's minimum over many steps (robust to other processes' noise).
  const holder = m as unknown as { k: Record<string, unknown> };
  const k = holder.k;
  const ord = new Map<string, number>();
  const mins = new Map<string, number>();
  const gemmShape = new Map<string, string>(),
    gemmMacs = new Map<string, number>();
  const wrapped: Record<string, unknown> = {};
  for (const name of Object.keys(k)) {
    const f = k[name];
    if (typeof f !== 'function') {
      wrapped[name] = f;
      continue;
    }
    const g = f as (...a: number[]) => number;
    wrapped[name] = (
      a0: number,
      a1: number,
      a2: number,
      a3: number,
      a4: number,
      a5: number,
      a6: number,
      a7: number,
      a8: number,
      a9: number,
      a10: number,
      a11: number,
      a12: number,
    ) => {
      const t = performance.now();
      const r = g(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
      const dt = performance.now() - t;
      const o = ord.get(name) ?? 0;
      ord.set(name, o + 1);
      const key = `${name}#${o}`;
      if (name === 'gemm' && !gemmShape.has(key)) {
        gemmShape.set(key, `M${a0} N${a1} K${a2} ra${a4} ca${a5}`);
        gemmMacs.set(key, a0 * a1 * a2);
      }
      const prev = mins.get(key);
      if (prev === undefined || dt < prev) mins.set(key, dt);
      return r;
    };
  }
  holder.k = wrapped;
  const n = 400;
  const steps: number[] = [];
  for (let i = 0; i < n; i++) {
    ord.clear();
    const t = performance.now();
    one();
    steps.push(performance.now() - t);
  }
  steps.sort((a, b) => a - b);
  const by = new Map<string, [number, number]>();
  for (const [key, t] of mins) {
    const name = key.split('#')[0];
    const e = by.get(name) ?? [0, 0];
    e[0]++;
    e[1] += t;
    by.set(name, e);
  }
  let inK = 0;
  for (const [name, [cnt, t]] of [...by.entries()].sort((a, b) => b[1][1] - a[1][1])) {
    inK += t;
    console.log(`${name.padEnd(18)} ${String(cnt).padStart(4)} calls ${(t * 1000).toFixed(1).padStart(8)} µs`);
  }
  if (process.env.GEMM_DETAIL)
    for (const [key, t] of mins)
      if (key.startsWith('gemm'))
        console.log(
          `  ${key.padEnd(10)} ${gemmShape.get(key)} ${(t * 1000).toFixed(1)} µs  ${(gemmMacs.get(key)! / t / 1e6).toFixed(2)} GMAC/s`,
        );
  console.log(
    `kernels (sum of per-call minima) ${(inK * 1000).toFixed(1)} µs; min step with timers ${(steps[0] * 1000).toFixed(1)} µs`,
  );
})();
