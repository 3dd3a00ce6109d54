/**
 * The local learning coefficient (src/engine/llc): the noise is standard normal, one SGLD step and its
 * MALA ratio equal hand-computed ones, the sampler records what devinterp records, a regular model's
 * LLC comes out at d/2 with the default calibration, restricting to a head leaves every other weight
 * bit-identical, two sampler seeds agree on a `fast` run checkpoint, the TensorFlow.js fallback computes
 * the fast engine's gradient, stages sit at the curve's critical points, and the CLI refuses bad input
 * without writing anything.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/data/rng';
import { initBackend } from '../../src/engine/model/tf';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir, RunLock } from '../../src/engine/io';
import { readCheckpoint } from '../../src/engine/model/checkpoint';
import { initParams } from '../../src/engine/model/params';
import { loadTaskData } from '../../src/engine/data';
import { SgldKernel, zigguratTables } from '../../src/engine/llc/kernel';
import { SGLD_C_SHA256, SGLD_WASM } from '../../src/engine/llc/wasm/binary';
import {
  PairedLosses,
  Ranges,
  SgldTarget,
  defaultNbeta,
  estimateLlc,
  sampleChains,
  summarize,
} from '../../src/engine/llc/sampler';
import { linearRegression } from '../../src/engine/llc/linearTarget';
import { calibrate } from '../../src/engine/llc/calibrate';
import { diagnose } from '../../src/engine/llc/diagnostics';
import { findStages } from '../../src/engine/llc/stages';
import { allHeads, flatLayout, flatten, headRanges, transformerTarget } from '../../src/engine/llc/transformerTarget';
import { LLC_DEFAULTS, LlcCommandArgs, llcCommand } from '../../src/engine/llc/command';
import type { LlcRunFile } from '../../src/shared/llc';
import { extraScalars } from '../../src/engine/export/tensorboardRun';
import type { RunSnapshot } from '../../src/engine/export/snapshot';
import { TINY } from './helpers';
import { cliArgv } from './procHelpers';

const ROOT = path.join(__dirname, '..', '..');

function cli(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, cliArgv(args), {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** A short run of the `fast` preset: 500 steps, a checkpoint every 2,000 sequences (on the ln 2 plateau). */
let fastRun: string;
before(async () => {
  const cfg = resolveRunConfig(
    { train: { sequences: 16_000, evalEvery: 4000, checkpointEvery: 2000 }, data: { evalSize: 200 } },
    presetConfig('fast'),
  );
  const rd = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-llc-')), 'fast');
  await runTraining(cfg, rd, { emit: () => {}, shouldStop: () => false });
  fastRun = rd.path;
});
after(() => fs.rmSync(path.dirname(fastRun), { recursive: true, force: true }));

test('the embedded WebAssembly is a build of this sgld.c by the pinned compiler (npm run build:wasm:llc)', () => {
  const src = fs.readFileSync(path.join(ROOT, 'src/engine/llc/wasm/sgld.c'));
  assert.equal(crypto.createHash('sha256').update(src).digest('hex'), SGLD_C_SHA256, 'sgld.c changed, not rebuilt');
  const first = fs.readFileSync(path.join(ROOT, 'src/engine/llc/wasm/binary.ts'), 'utf8').split('\n')[0];
  const pinned = /PINNED="([^"]+)"/.exec(fs.readFileSync(path.join(ROOT, 'scripts/build-llc-wasm.sh'), 'utf8'))![1];
  assert.ok(first.includes(pinned), `binary.ts names its compiler (${first}); build-llc-wasm.sh pins ${pinned}`);
});

test('the WebAssembly exports exactly the functions kernel.ts declares, with their declared arity', () => {
  const src = fs.readFileSync(path.join(ROOT, 'src/engine/llc/kernel.ts'), 'utf8');
  const body = /interface Exports \{([\s\S]*?)\n\}/.exec(src)![1];
  const declared = new Map<string, number>();
  for (const m of body.matchAll(/^\s*(\w+)\(([^)]*)\):/gm))
    declared.set(m[1], m[2].split(',').filter((a) => a.trim()).length);
  assert.ok(declared.size >= 6, `parsed ${declared.size} declarations`);
  // A position-independent module: its memory, statics base, stack and table are imported.
  const i32 = (v: number, mutable = false) => new WebAssembly.Global({ value: 'i32', mutable }, v);
  const ex = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(SGLD_WASM, 'base64')), {
    env: {
      memory: new WebAssembly.Memory({ initial: 2 }),
      __memory_base: i32(1024),
      __stack_pointer: i32(2 * 65536, true),
      __table_base: i32(0),
      __indirect_function_table: new WebAssembly.Table({ initial: 0, element: 'anyfunc' }),
    },
  }).exports;
  const fns = Object.entries(ex).filter(([, v]) => typeof v === 'function');
  assert.deepEqual(fns.map(([k]) => k).sort(), [...declared.keys()].sort());
  for (const [k, f] of fns) assert.equal((f as (...a: number[]) => unknown).length, declared.get(k), `${k}: arguments`);
});

/**
 * A JavaScript reference of the noise: four xoshiro128** streams (lanes) and the 128-layer ziggurat, one
 * value at a time in lane order, the slow path on a fifth stream, written as the algorithm reads (exact
 * Math.exp / Math.log) — against the WebAssembly's SIMD fast path and its cheap-exp squeeze.
 */
function referenceNormals(seed: number, stream: number, n: number): { values: Float32Array; slow: number } {
  const r = new Rng(seed, stream),
    s = Uint32Array.from({ length: 20 }, () => r.nextU32());
  for (let L = 0; L < 4; L++) if ((s[L] | s[4 + L] | s[8 + L] | s[12 + L]) === 0) s[L] = 1;
  if ((s[16] | s[17] | s[18] | s[19]) === 0) s[16] = 1;
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const next = (w: number[]): number => {
    const [a, b, c, d] = w.map((i) => s[i]);
    const out = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0,
      t = (b << 9) >>> 0;
    const c1 = (c ^ a) >>> 0,
      d1 = (d ^ b) >>> 0,
      b1 = (b ^ c1) >>> 0,
      a1 = (a ^ d1) >>> 0;
    s[w[0]] = a1;
    s[w[1]] = b1;
    s[w[2]] = (c1 ^ t) >>> 0;
    s[w[3]] = rotl(d1, 11);
    return out;
  };
  const { kn, wn, fn } = zigguratTables(),
    R = 3.442619855899;
  const scalar = [16, 17, 18, 19],
    uni = () => (next(scalar) + 0.5) / 4294967296;
  let slow = 0;
  const slowPath = (j: number, iz: number): number => {
    slow++;
    for (;;) {
      if (iz === 0) {
        let x: number, y: number;
        do {
          x = -Math.log(uni()) / R;
          y = -Math.log(uni());
        } while (y + y < x * x);
        return j > 0 ? R + x : -R - x;
      }
      const x = j * wn[iz];
      if (fn[iz] + uni() * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) return x;
      const u = next(scalar);
      iz = u & 127;
      j = (u | 0) >> 7;
      if (Math.abs(j) < kn[iz]) return j * wn[iz];
    }
  };
  const values = new Float32Array(n);
  for (let i = 0; i < n; i += 4) {
    const us = [0, 1, 2, 3].map((L) => next([L, 4 + L, 8 + L, 12 + L]));
    us.forEach((u, L) => {
      const iz = u & 127,
        j = (u | 0) >> 7;
      const v = Math.abs(j) < kn[iz] ? j * wn[iz] : slowPath(j, iz);
      if (i + L < n) values[i + L] = v;
    });
  }
  return { values, slow };
}

test('the noise is the ziggurat value for value: the SIMD fast path and the cheap-exp squeeze change nothing', () => {
  const n = 200_003,
    k = new SgldKernel(4);
  k.seed(5, 9);
  const got = k.normals(n),
    ref = referenceNormals(5, 9, n);
  assert.ok(ref.slow > 0.02 * n, `the slow path ran ${ref.slow} times`);
  let diff = 0;
  for (let i = 0; i < n; i++) if (!Object.is(got[i], ref.values[i])) diff++;
  assert.equal(diff, 0, `${diff} of ${n} values differ`);
  // The squeeze's cheap exp is within its decision margin (1e-6) of exp on the slow path's domain [−6, 0].
  for (let z = -6; z <= 0; z += 0.0137) assert.ok(Math.abs(k.expLog(z, 2) / Math.exp(z) - 1) < 2e-7, `exp(${z})`);
});

test('one fused step draws the noise of one fill over the sampled coordinates and updates exactly as written', () => {
  // Ranges that cut the noise chunks (256), the four-lane draws and the SIMD blocks at odd places.
  const ranges: Array<[number, number]> = [
    [0, 5],
    [7, 1030],
    [1031, 1032],
    [1040, 2999],
    [3000, 3001],
  ];
  const size = 3001,
    total = ranges.reduce((t, [a, b]) => t + b - a, 0);
  const k = new SgldKernel(size),
    noise = new SgldKernel(4);
  k.setRanges(ranges);
  const rng = new Rng(2, 2),
    w0 = Float32Array.from({ length: size }, () => rng.normal());
  const w = Float32Array.from(w0, (x) => x + 0.01 * rng.normal());
  k.w0.set(w0);
  k.w.set(w);
  k.seed(4, 6);
  noise.seed(4, 6);
  const f = Math.fround,
    eps = 2e-3,
    nb = f(9.23),
    ga = f(40);
  const half = f(0.5 * eps),
    root = f(Math.sqrt(eps));
  for (let step = 0; step < 4; step++) {
    const g = Float32Array.from({ length: size }, () => rng.normal());
    k.g.set(g);
    const st = k.step(eps, 9.23, 40, step > 0),
      xi = noise.normals(total);
    let j = 0,
      dist2 = 0,
      noise2 = 0;
    for (const [a, b] of ranges)
      for (let i = a; i < b; i++, j++) {
        const dev = f(w[i] - w0[i]),
          di = f(f(nb * g[i]) + f(ga * dev));
        dist2 += dev * dev;
        noise2 += xi[j] * xi[j];
        w[i] = f(f(w[i] - f(half * di)) + f(root * xi[j]));
      }
    for (let i = 0; i < size; i++) assert.ok(Object.is(k.w[i], w[i]), `step ${step}: w[${i}] ${k.w[i]} ≠ ${w[i]}`);
    assert.ok(Math.abs(st.dist2 / dist2 - 1) < 1e-5 && Math.abs(st.noise2 / noise2 - 1) < 1e-5);
    if (step === 0) assert.deepEqual([st.dU, st.logQRatio], [0, 0], 'no MALA terms without a previous step');
  }
  // Both streams stand at the same place afterwards.
  assert.deepEqual(Array.from(noise.normals(8)), Array.from(k.normals(8)));
});

test('the ziggurat noise is standard normal: moments, tail masses and the Kolmogorov–Smirnov distance', () => {
  const k = new SgldKernel(4);
  k.seed(3, 1);
  const n = 400_000,
    x = k.normals(n);
  let m = 0,
    v = 0,
    k4 = 0;
  for (const a of x) m += a;
  m /= n;
  for (const a of x) {
    v += (a - m) ** 2;
    k4 += (a - m) ** 4;
  }
  v /= n;
  k4 /= n * v * v;
  assert.ok(Math.abs(m) < 5 / Math.sqrt(n), `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 5 * Math.sqrt(2 / n), `variance ${v}`);
  assert.ok(Math.abs(k4 - 3) < 0.05, `kurtosis ${k4}`);
  const tail = (t: number) => x.reduce((s, a) => s + (Math.abs(a) > t ? 1 : 0), 0) / n;
  for (const [t, p] of [
    [1, 0.3173105],
    [2, 0.0455003],
    [3, 0.0026998],
  ] as const) {
    assert.ok(Math.abs(tail(t) - p) < 5 * Math.sqrt(p / n), `P(|x| > ${t}) = ${tail(t)}, expected ${p}`);
  }
  // KS distance against Φ (erf by Abramowitz–Stegun 7.1.26, |error| < 1.5e-7).
  const erf = (z: number) => {
    const s = Math.sign(z),
      a = Math.abs(z),
      t = 1 / (1 + 0.3275911 * a);
    return (
      s *
      (1 -
        ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
          t *
          Math.exp(-a * a))
    );
  };
  const sorted = Float64Array.from(x.subarray(0, 50_000)).sort();
  let ks = 0;
  sorted.forEach((a, i) => {
    const F = 0.5 * (1 + erf(a / Math.SQRT2));
    ks = Math.max(ks, Math.abs(F - i / sorted.length), Math.abs(F - (i + 1) / sorted.length));
  });
  assert.ok(ks < 1.63 / Math.sqrt(sorted.length), `KS distance ${ks}`); // the 1 % critical value
  for (let z = -6; z <= 0; z += 0.37) assert.ok(Math.abs(k.expLog(z, 0) / Math.exp(z) - 1) < 1e-14, `exp(${z})`);
  for (let u = 1e-9; u < 1; u *= 1.7) assert.ok(Math.abs(k.expLog(u, 1) - Math.log(u)) < 1e-13, `log(${u})`);
});

test(
  'one SGLD step equals the hand-computed update with the same noise, and the MALA terms equal the Langevin ' + 'ratio',
  () => {
    const eps = 1e-3,
      nbeta = 9.5,
      gamma = 30;
    const k = new SgldKernel(5);
    k.setRanges([
      [0, 2],
      [3, 5],
    ]);
    const w0 = Float32Array.of(0.3, -1.2, 0.7, 2.0, -0.4),
      wA = Float32Array.of(0.35, -1.1, 0.7, 1.9, -0.45),
      gA = Float32Array.of(0.5, -2, 9, 0.25, 1);
    k.w0.set(w0);
    k.w.set(wA);
    k.g.set(gA);
    k.seed(7, 3);
    const xi = k.normals(4); // the stream's first four values: coordinates 0, 1, 3, 4 in range order
    k.seed(7, 3);
    const st = k.step(eps, nbeta, gamma, false);
    const idx = [0, 1, 3, 4];
    const driftA = idx.map((i) => nbeta * gA[i] + gamma * (wA[i] - w0[i]));
    idx.forEach((i, j) => {
      const want = wA[i] - (eps / 2) * driftA[j] + Math.sqrt(eps) * xi[j];
      assert.ok(Math.abs(k.w[i] - want) < 2e-7, `w[${i}] = ${k.w[i]}, hand-computed ${want}`);
    });
    assert.equal(k.w[2], wA[2], 'a coordinate outside the ranges is untouched');
    // The sums are float32 products accumulated in double: equal within float32 rounding.
    const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);
    assert.ok(
      near(
        st.dist2,
        idx.reduce((s, i) => s + (wA[i] - w0[i]) ** 2, 0),
      ),
    );
    assert.ok(
      near(
        st.grad2,
        idx.reduce((s, i) => s + gA[i] ** 2, 0),
      ),
    );
    assert.ok(
      near(
        st.drift2,
        driftA.reduce((s, d) => s + d * d, 0),
      ),
    );
    assert.ok(
      near(
        st.noise2,
        xi.reduce((s, x) => s + x * x, 0),
      ),
    );
    // Second step: the MALA terms of the transition wA → wB.
    const wB = Float32Array.from(k.w),
      gB = Float32Array.of(-0.3, 1.5, 4, 0.6, -0.2);
    k.g.set(gB);
    const st2 = k.step(eps, nbeta, gamma, true);
    const driftB = idx.map((i) => nbeta * gB[i] + gamma * (wB[i] - w0[i]));
    let qBackNum = 0,
      qFwdNum = 0,
      dU = 0;
    idx.forEach((i, j) => {
      qBackNum += (wA[i] - wB[i] + (eps / 2) * driftB[j]) ** 2; // log q(wA | wB) = −|…|²/(2ε)
      qFwdNum += (wB[i] - wA[i] + (eps / 2) * driftA[j]) ** 2;
      dU += 0.5 * (driftA[j] + driftB[j]) * (wB[i] - wA[i]);
    });
    const logRatio = -qBackNum / (2 * eps) + qFwdNum / (2 * eps);
    assert.ok(Math.abs(st2.logQRatio - logRatio) < 1e-4, `log q ratio ${st2.logQRatio}, hand-computed ${logRatio}`);
    assert.ok(Math.abs(st2.dU - dU) < 1e-5, `ΔU ${st2.dU}, hand-computed ${dU}`);
  },
);

/** U = ½·a·|w − c|² + batch offset: a quadratic whose loss values the test can recompute. */
function quadraticTarget(d: number, a: number, log: Array<{ w: Float32Array; loss: number }>): SgldTarget<number> {
  const w = new Float32Array(d),
    c = Float32Array.from({ length: d }, (_, i) => 0.1 * i);
  return {
    size: d,
    batchSize: 16,
    drawBatch: (r) => 0.01 * r.normal(),
    load: (v) => w.set(v),
    update: (v, ranges: Ranges) => {
      for (const [s, e] of ranges) for (let i = s; i < e; i++) w[i] = v[i];
    },
    evaluate: (off, grad, ranges) => {
      let l = off;
      for (let i = 0; i < d; i++) l += 0.5 * a * (w[i] - c[i]) ** 2;
      if (grad) for (const [s, e] of ranges) for (let i = s; i < e; i++) grad[i] = a * (w[i] - c[i]);
      if (grad) log.push({ w: w.slice(), loss: l });
      return l;
    },
  };
}

test(
  "the sampler records the loss before each draw's update, after burn-in, every k steps, and estimates as " +
    'devinterp',
  () => {
    const log: Array<{ w: Float32Array; loss: number }> = [];
    const t = quadraticTarget(3, 2, log);
    const w0 = Float32Array.of(0.2, 0.1, 0.3);
    const o = { epsilon: 1e-2, gamma: 1, chains: 2, draws: 3, burnIn: 1, stepsBetweenDraws: 2, seed: 4 };
    const r = sampleChains(t, w0, o);
    assert.equal(r.settings.nbeta, defaultNbeta(16));
    assert.equal(log.length, 2 * (1 + 3 * 2), 'burn-in + draws × steps between draws, per chain');
    // L(w*): the mean of `chains` minibatch losses at w*.
    const base = new Rng(0x11c, 0);
    const ls = [0, 1].map(() => {
      const off = t.drawBatch(base);
      return off + [0, 1, 2].reduce((s, i) => s + (w0[i] - 0.1 * i) ** 2, 0);
    });
    assert.ok(Math.abs(r.baseline.initLoss - (ls[0] + ls[1]) / 2) < 1e-6);
    for (const [ci, ch] of r.chains.entries()) {
      const steps = log.slice(ci * 7, ci * 7 + 7);
      assert.deepEqual(Array.from(steps[0].w), Array.from(w0), 'each chain starts at w*');
      assert.deepEqual(
        ch.loss,
        [steps[2].loss, steps[4].loss, steps[6].loss],
        'draws at steps 2, 4, 6 (burn-in 1, every 2)',
      );
      const mean = (ch.loss[0] + ch.loss[1] + ch.loss[2]) / 3;
      assert.ok(Math.abs(ch.llc - r.settings.nbeta * (mean - r.baseline.initLoss)) < 1e-9);
      assert.ok(Math.abs(ch.distance[0] - Math.hypot(...[0, 1, 2].map((i) => steps[2].w[i] - w0[i]))) < 1e-6);
    }
    const e = summarize(r.settings, r.baseline, r.chains, false, 0);
    const runs = r.chains.map((c) => r.settings.nbeta * (c.loss[0] - r.baseline.initLoss));
    assert.ok(Math.abs(e.running.mean[0] - (runs[0] + runs[1]) / 2) < 1e-9, 'running estimate after one draw');
    assert.ok(Math.abs(e.mean - (r.chains[0].llc + r.chains[1].llc) / 2) < 1e-12);
    assert.ok(Math.abs(e.std - Math.abs(r.chains[0].llc - r.chains[1].llc) / Math.SQRT2) < 1e-12, 'std with N − 1');
  },
);

test('on a quadratic target every chain is the hand-written SGLD recursion, draw for draw and bit for bit', () => {
  // Δw = (ε/2)·(nβ·∇L_m + γ·(w − w*)) + N(0, ε) on the sampled coordinates in float32, the noise the chain's
  // stream (seed, 2c + 2) drawn over them in range order, the minibatch the stream (seed, 2c + 1), a draw the
  // loss before the update of step burnIn + k·every − 1: what the estimator meant before the fused kernel.
  const d = 600,
    a = 3,
    log: Array<{ w: Float32Array; loss: number }> = [];
  const t = quadraticTarget(d, a, log);
  const ranges: Array<[number, number]> = [
    [0, 301],
    [305, 600],
  ];
  const w0 = Float32Array.from({ length: d }, (_, i) => 0.1 * i + 0.05 * Math.sin(i));
  const o = { epsilon: 1e-3, gamma: 5, chains: 2, draws: 30, burnIn: 2, stepsBetweenDraws: 2, seed: 8, ranges };
  const r = sampleChains(t, w0, o);
  const f = Math.fround,
    nb = f(r.settings.nbeta),
    ga = f(o.gamma),
    half = f(0.5 * o.epsilon),
    root = f(Math.sqrt(o.epsilon));
  const c = Float32Array.from({ length: d }, (_, i) => 0.1 * i),
    total = 301 + 295;
  for (const ch of r.chains) {
    const batches = new Rng(o.seed, 2 * ch.chain + 1),
      noise = new SgldKernel(4);
    noise.seed(o.seed, 2 * ch.chain + 2);
    const w = w0.slice(),
      g = new Float32Array(d),
      draws: number[] = [];
    for (let i = 0; i < o.burnIn + o.draws * o.stepsBetweenDraws; i++) {
      let loss = 0.01 * batches.normal();
      for (let q = 0; q < d; q++) loss += 0.5 * a * (w[q] - c[q]) ** 2;
      for (const [s0, e] of ranges) for (let q = s0; q < e; q++) g[q] = a * (w[q] - c[q]);
      if (i >= o.burnIn && (i + 1 - o.burnIn) % o.stepsBetweenDraws === 0) draws.push(loss);
      const xi = noise.normals(total);
      let j = 0;
      for (const [s0, e] of ranges)
        for (let q = s0; q < e; q++, j++) {
          const di = f(f(nb * g[q]) + f(ga * f(w[q] - w0[q])));
          w[q] = f(f(w[q] - f(half * di)) + f(root * xi[j]));
        }
    }
    assert.deepEqual(ch.loss, draws, `chain ${ch.chain}: the draws`);
    let sum = 0;
    for (const l of draws) sum += l - r.baseline.initLoss;
    assert.equal(ch.llc, r.settings.nbeta * (sum / draws.length), `chain ${ch.chain}: λ̂`);
    assert.ok(ch.llc > 0 && Number.isFinite(ch.meanAcceptance));
  }
});

test('paired draws of several restrictions share L_m(w*): computed once per draw, the same estimates', () => {
  const log: Array<{ w: Float32Array; loss: number }> = [];
  const base = quadraticTarget(40, 2, log);
  let atWStar = 0;
  const t: SgldTarget<number> = {
    ...base,
    evaluate: (b, grad, ranges) => {
      if (!grad) atWStar++;
      return base.evaluate(b, grad, ranges);
    },
  };
  const w0 = Float32Array.from({ length: 40 }, (_, i) => 0.1 * i + 0.01);
  const heads: Array<Array<[number, number]>> = [[[0, 10]], [[10, 25]], [[25, 40]]];
  const o = { epsilon: 1e-3, gamma: 10, chains: 3, draws: 20, burnIn: 1, stepsBetweenDraws: 2, seed: 6 };
  const alone = heads.map((ranges) => sampleChains(t, w0, { ...o, ranges, pairedBaseline: true }));
  const perHead = atWStar / heads.length - o.chains; // minus L(w*)'s minibatches
  assert.equal(perHead, o.chains * o.draws, 'one forward pass at w* per draw without the cache');
  atWStar = 0;
  const pairedLosses: PairedLosses = new Map();
  const shared = heads.map((ranges) => sampleChains(t, w0, { ...o, ranges, pairedBaseline: true }, { pairedLosses }));
  assert.equal(atWStar - heads.length * o.chains, o.chains * o.draws, 'with the cache: once per draw in all');
  shared.forEach((r, h) => {
    assert.deepEqual(r.chains, alone[h].chains, `restriction ${h}: the same chains`);
  });
});

test(
  'a regular model: linear regression with d = 50 weights gives λ̂ = d/2 within 10 % with the default ' + 'calibration',
  async () => {
    const lr = linearRegression({ n: 2048, d: 50, batchSize: 32, noise: 0.3, inputScale: 1, seed: 9 });
    const base = { gamma: 0, chains: 10, draws: 100, burnIn: 0, stepsBetweenDraws: 1 };
    const cal = await calibrate({
      nbetaDefault: defaultNbeta(32),
      gamma: 0,
      estimate: async (epsilon, nbeta) => estimateLlc(lr.target, lr.wStar, { ...base, epsilon, nbeta, seed: 0 }),
    });
    assert.ok(cal.recommendation, cal.note);
    assert.equal(cal.cells.filter((c) => !c.refined).length, 8 * 6, "devinterp's grid: 8 ε × 6 nβ");
    // A fresh estimate (another seed) at the recommended ε, default nβ and chains.
    const e = estimateLlc(lr.target, lr.wStar, { ...base, epsilon: cal.recommendation.epsilon, seed: 1 });
    assert.ok(
      Math.abs(e.mean - lr.llc) <= 0.1 * lr.llc,
      `λ̂ = ${e.mean.toFixed(2)} ± ${e.std.toFixed(2)} at ε ${cal.recommendation.epsilon.toPrecision(3)}; d/2 = ` +
        `${lr.llc}`,
    );
    // At the start of equilibrium a fresh seed may still see its traces rise slightly; nothing worse.
    assert.ok(
      diagnose(e).every((w) => w.code === 'not-flattened'),
      diagnose(e)
        .map((w) => w.message)
        .join('; '),
    );
    // Far too small an ε: the chains barely move, the estimate is low and flagged.
    const slow = estimateLlc(lr.target, lr.wStar, { ...base, epsilon: 2e-5, seed: 1 });
    assert.ok(
      slow.mean < 0.3 * lr.llc && diagnose(slow).some((w) => w.code === 'not-flattened'),
      `ε 2e-5: ${slow.mean}`,
    );
  },
);

test('paired draws (L_m(w) − L_m(w*) on the same minibatch) estimate the same λ with less noise', () => {
  const lr = linearRegression({ n: 2048, d: 20, batchSize: 32, noise: 0.6, inputScale: 1, seed: 3 });
  const o = { epsilon: 5e-3, gamma: 0, chains: 10, draws: 100, burnIn: 100, stepsBetweenDraws: 1, seed: 5 };
  const plain = estimateLlc(lr.target, lr.wStar, o),
    paired = estimateLlc(lr.target, lr.wStar, { ...o, pairedBaseline: true });
  assert.ok(paired.chains.every((c) => c.baselineLoss?.length === 100));
  assert.equal(paired.baselineStderr, 0);
  assert.ok(paired.std < plain.std, `std ${paired.std} (paired) vs ${plain.std}`);
  assert.ok(
    Math.abs(paired.mean - plain.mean) < 2 * Math.hypot(paired.stderr, plain.stderr),
    `${paired.mean} vs ${plain.mean}`,
  );
  assert.ok(Math.abs(paired.mean - lr.llc) < 0.1 * lr.llc, `paired ${paired.mean}, d/2 = ${lr.llc}`);
});

test('warnings: divergence, a negative LLC and nβ = 1 are flagged next to the number', () => {
  const lr = linearRegression({ n: 512, d: 10, batchSize: 32, noise: 0.3, inputScale: 1, seed: 2 });
  const base = { gamma: 0, chains: 4, draws: 50, burnIn: 0, stepsBetweenDraws: 1, seed: 0 };
  const div = estimateLlc(lr.target, lr.wStar, { ...base, epsilon: 0.5 });
  assert.ok(div.chains.every((c) => c.diverged) && Number.isNaN(div.mean));
  assert.ok(diagnose(div).some((w) => w.code === 'diverged' && /4 of 4 chains diverged/.test(w.message)));
  const one = estimateLlc(lr.target, lr.wStar, { ...base, epsilon: 1e-2, nbeta: 1 });
  assert.ok(diagnose(one).some((w) => w.code === 'nbeta-one'));
  // Sampling around a point that is not a minimum: the chains find lower loss, the LLC comes out negative.
  const off = Float32Array.from(lr.wStar, (x) => x + 0.5);
  const neg = estimateLlc(lr.target, off, { ...base, epsilon: 1e-2 });
  assert.ok(neg.mean < 0 && diagnose(neg).some((w) => w.code === 'negative'), `λ̂ ${neg.mean}`);
});

test("head ranges: a head's Q, K and V rows of W_qkv and its input columns of W_proj, 4·D·d weights", () => {
  const c = presetConfig('fast').model,
    lay = flatLayout(c),
    d = c.dModel,
    D = d / c.numHeads;
  const r = headRanges(c, 'L2H3');
  assert.equal(
    r.reduce((s, [a, b]) => s + b - a, 0),
    4 * D * d,
  );
  const qkv = lay.offsets[lay.names.indexOf('blocks.1.attn.qkv.weight')],
    proj = lay.offsets[lay.names.indexOf('blocks.1.attn.proj.weight')];
  const inR = (i: number) => r.some(([a, b]) => a <= i && i < b);
  for (let which = 0; which < 3; which++)
    for (let row = 0; row < d; row++) {
      assert.equal(inR(qkv + (which * d + row) * d), Math.floor(row / D) === 3, `qkv row ${which}·d + ${row}`);
    }
  for (let o = 0; o < d; o++)
    for (let col = 0; col < d; col++) assert.equal(inR(proj + o * d + col), Math.floor(col / D) === 3);
  assert.equal(allHeads(c).length, 16);
  assert.throws(() => headRanges(c, 'L2H9'), /unknown head "L2H9": each layer has 8 heads/);
});

test('restricting SGLD to one head leaves every other weight bit-identical through sampling', async () => {
  const rd = RunDir.open(fastRun);
  const run = resolveRunConfig(rd.readRunJson<{ config: unknown }>().config);
  const task = await loadTaskData(run.data);
  const ref = rd.latestCheckpoint()!;
  const w0 = flatten(run.model, readCheckpoint(ref.path, run.model).params);
  const target = transformerTarget({ config: run.model, task, clamps: [], sequences: ref.sequences, batchSize: 32 });
  assert.equal(target.engine.engine, 'fast');
  const seen: Float32Array[] = [];
  const spy: SgldTarget<unknown> = {
    ...target,
    size: target.size,
    batchSize: 32,
    drawBatch: (r) => target.drawBatch(r),
    load: (w) => target.load(w),
    update: (w, ranges) => {
      seen.push(w.slice());
      target.update(w, ranges);
    },
    evaluate: (b, g, ranges) => target.evaluate(b as never, g, ranges),
  };
  const kernel = new SgldKernel(target.size);
  const ranges = headRanges(run.model, 'L1H2');
  sampleChains(
    spy,
    w0,
    { epsilon: 1e-4, gamma: 100, chains: 2, draws: 20, burnIn: 0, stepsBetweenDraws: 1, seed: 3, ranges },
    { kernel },
  );
  const inside = new Uint8Array(w0.length);
  for (const [a, b] of ranges) inside.fill(1, a, b);
  const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b0 = bits(w0);
  let moved = 0;
  for (const w of [...seen, kernel.w]) {
    const bw = bits(w);
    for (let i = 0; i < w0.length; i++) {
      if (!inside[i]) assert.equal(bw[i], b0[i], `weight ${i} outside L1H2 changed`);
      else if (bw[i] !== b0[i]) moved++;
    }
  }
  assert.ok(moved > 0.9 * 2048 * seen.length, "the head's own weights move");
});

test("the fast engine's hosted kernel (in place in the model's memory) gives the copying path's chains bit for bit", async () => {
  const rd = RunDir.open(fastRun);
  const run = resolveRunConfig(rd.readRunJson<{ config: unknown }>().config);
  const task = await loadTaskData(run.data);
  const ref = rd.latestCheckpoint()!;
  const w0 = flatten(run.model, readCheckpoint(ref.path, run.model).params);
  const make = () =>
    transformerTarget({ config: run.model, task, clamps: [], sequences: ref.sequences, batchSize: 32 });
  const hosted = make();
  assert.ok(hosted.hostKernel, 'the fast target hosts its kernel');
  const plain = make();
  // The same target without hostKernel: w copied in by update(), g copied out by evaluate(), every step.
  const copying: SgldTarget<unknown> = {
    size: plain.size,
    batchSize: plain.batchSize,
    divergenceLoss: (l) => plain.divergenceLoss!(l),
    drawBatch: (r) => plain.drawBatch(r),
    load: (w) => plain.load(w),
    update: (w, rg) => plain.update(w, rg),
    evaluate: (b, g, rg) => plain.evaluate(b as never, g, rg),
  };
  const ranges = headRanges(run.model, 'L1H5');
  for (const extra of [{}, { ranges, pairedBaseline: true }]) {
    const o = { epsilon: 1e-3, gamma: 100, chains: 2, draws: 8, burnIn: 2, stepsBetweenDraws: 1, seed: 5, ...extra };
    const a = sampleChains(hosted, w0, o),
      b = sampleChains(copying, w0, o);
    assert.deepEqual(a.chains, b.chains);
    assert.ok(a.chains.every((c) => c.loss.length === 8 && !c.diverged));
  }
  // After the restricted chains the model's own parameters differ from w* only inside the head.
  const w = hosted.hostKernel!().w,
    inside = new Uint8Array(w0.length);
  for (const [a, b] of ranges) inside.fill(1, a, b);
  const bw = new Uint32Array(w.buffer, w.byteOffset, w.length),
    b0 = new Uint32Array(w0.buffer, w0.byteOffset, w0.length);
  let moved = 0;
  for (let i = 0; i < w0.length; i++) {
    if (!inside[i]) assert.equal(bw[i], b0[i], `weight ${i} outside L1H5 changed`);
    else if (bw[i] !== b0[i]) moved++;
  }
  assert.ok(moved > 0.9 * 2048, "the head's own weights moved");
});

test('two sampler seeds agree within their stds on a `fast` run checkpoint (default settings)', async () => {
  const rd = RunDir.open(fastRun);
  const run = resolveRunConfig(rd.readRunJson<{ config: unknown }>().config);
  const task = await loadTaskData(run.data);
  const ref = rd.latestCheckpoint()!;
  const w0 = flatten(run.model, readCheckpoint(ref.path, run.model).params);
  const target = transformerTarget({
    config: run.model,
    task,
    clamps: [],
    sequences: ref.sequences,
    batchSize: run.train.batchSize,
  });
  const o = { ...LLC_DEFAULTS };
  const [a, b] = [1, 2].map((seed) => estimateLlc(target, w0, { ...o, seed }));
  for (const e of [a, b])
    assert.deepEqual(
      diagnose(e).map((w) => w.code),
      [],
      `seed estimate ${e.mean} ± ${e.std}: ${diagnose(e).map((w) => w.message)}`,
    );
  assert.ok(a.mean > 0 && b.mean > 0);
  assert.ok(
    Math.abs(a.mean - b.mean) <= Math.min(a.std, b.std),
    `seed 1: ${a.mean.toFixed(3)} ± ${a.std.toFixed(3)}, seed 2: ${b.mean.toFixed(3)} ± ${b.std.toFixed(3)}`,
  );
  assert.equal(a.initLoss, b.initLoss, "L(w*) is the checkpoint's, not the seed's");
});

// The class corruption must pair items by class on both engines (the trainer passes the batch's classes):
// with 3 train classes of 3 exemplars each, items of one class with different exemplars are common.
const TARGET_CLAMPS: Array<[string, unknown[], Record<string, unknown>]> = [
  ['a head ablated', [{ kind: 'ablate', heads: ['L2H1'] }], {}],
  [
    'a corrupted path (class corruption)',
    [{ kind: 'path-patch', sender: 'L1H0', receiver: 'L2H1', input: 'k', with: 'corrupt', corruption: 'class' }],
    { classSplit: [3, 1520, 100], exemplarSplit: [3, 2, 0] },
  ],
];
for (const [what, rawClamps, split] of TARGET_CLAMPS)
  test(`the TensorFlow.js fallback gives the fast engine's loss and gradient (${what}, per head)`, async () => {
    await initBackend('cpu');
    const c = { ...TINY, inputDim: 512 };
    const data = { numLabels: 3, labelSplit: [2, 1, 0], ...split };
    const cfg = resolveRunConfig({ model: c, data }, presetConfig('smoke'));
    const task = await loadTaskData(cfg.data);
    const w = flatten(cfg.model, initParams(cfg.model, 3));
    const clamps = resolveRunConfig({ model: c, data, clamps: rawClamps }, presetConfig('smoke')).clamps;
    const ranges = headRanges(cfg.model, 'L1H0');
    const out = ['fast', 'tfjs'].map((engine) => {
      const t = transformerTarget({
        config: cfg.model,
        task,
        clamps,
        sequences: 0,
        batchSize: 8,
        engine: engine as 'fast' | 'tfjs',
      });
      t.load(w);
      const g = new Float32Array(t.size);
      const loss = t.evaluate(t.drawBatch(new Rng(1, 1)), g, ranges);
      return { loss, g, engine: t.engine.engine };
    });
    assert.deepEqual(
      out.map((o) => o.engine),
      ['fast', 'tfjs'],
    );
    assert.ok(Math.abs(out[0].loss - out[1].loss) < 1e-5, `${out[0].loss} vs ${out[1].loss}`);
    let maxG = 0,
      diff = 0;
    for (const [a, b] of ranges)
      for (let i = a; i < b; i++) {
        maxG = Math.max(maxG, Math.abs(out[1].g[i]));
        diff = Math.max(diff, Math.abs(out[0].g[i] - out[1].g[i]));
      }
    assert.ok(maxG > 0 && diff < 1e-5 * Math.max(1, maxG), `gradient difference ${diff} (max |g| ${maxG})`);
  });

test('stages: boundaries at the critical points of the LLC over log-time; wiggles below the noise ignored', () => {
  // Rise to a peak at 1e4, fall to a trough at 1e5, rise again; plus a small wiggle early on.
  const xs = Array.from({ length: 51 }, (_, i) => 10 ** (2 + (5 * i) / 50));
  const f = (x: number) => {
    const t = Math.log10(x);
    return 10 + 5 * Math.sin(((t - 3) * Math.PI) / 2) + 0.05 * Math.sin(t * 40);
  };
  const st = findStages(xs.map((x) => ({ sequences: x, llc: f(x), stderr: 0.1 })));
  assert.deepEqual(
    st.boundaries.map((b) => b.kind),
    ['peak', 'trough'],
  );
  assert.ok(
    Math.abs(Math.log10(st.boundaries[0].sequences) - 4) < 0.1 &&
      Math.abs(Math.log10(st.boundaries[1].sequences) - 6) < 0.15,
    JSON.stringify(st.boundaries),
  );
  assert.deepEqual(
    st.stages.map((s) => s.trend),
    ['rising', 'falling', 'rising'].slice(0, st.stages.length),
  );
  const flat = findStages(xs.map((x) => ({ sequences: x, llc: 3 + 0.05 * Math.sin(Math.log10(x) * 9), stderr: 0.2 })));
  assert.equal(flat.boundaries.length, 0, 'noise-level wiggles are not stages');
});

test(
  'bad input: ε ≤ 0, chains 0, a head that does not exist, a run without checkpoints: one clear line, nothing ' +
    'written',
  async () => {
    const llcDir = path.join(fastRun, 'llc');
    fs.rmSync(llcDir, { recursive: true, force: true });
    const quiet = { out: () => {}, err: () => {} };
    const cases: Array<[Partial<LlcCommandArgs>, RegExp]> = [
      [{ epsilon: '0' }, /^--epsilon must be a number > 0, got "0"$/],
      [{ epsilon: '-1e-4' }, /^--epsilon must be a number > 0, got "-1e-4"$/],
      [{ chains: '0' }, /^--chains must be a whole number ≥ 1, got "0"$/],
      [{ heads: 'L2H9' }, /^unknown head "L2H9": each layer has 8 heads \(H0…H7\)$/],
      [{ checkpoints: '999' }, /^checkpoint 999 does not exist \(available: 2016, 4000/],
      [{ gamma: 'x' }, /^--gamma must be a number ≥ 0, got "x"$/],
    ];
    const msg = (re: RegExp) => (e: Error) => {
      assert.match(e.message, re);
      return true;
    };
    for (const [args, re] of cases) await assert.rejects(llcCommand({ runDir: fastRun, ...args }, quiet), msg(re));
    const empty = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-llc-empty-')), 'empty');
    empty.writeRunJson({ status: 'created', config: presetConfig('smoke') });
    await assert.rejects(llcCommand({ runDir: empty.path }, quiet), msg(/^run .* has no checkpoints/));
    assert.ok(!fs.existsSync(llcDir) && !fs.existsSync(path.join(empty.path, 'llc')), 'nothing written');
    // As the CLI prints it: one line on stderr, exit code 2.
    const r = cli(['llc', fastRun, '--epsilon', '0']);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'induction-lab: --epsilon must be a number > 0, got "0"\n');
    assert.ok(!fs.existsSync(llcDir));
    fs.rmSync(path.dirname(empty.path), { recursive: true, force: true });
  },
);

test(
  'llc writes the documented files on two worker threads; the CLI reuses them and reports progress as ' + 'JSON',
  async () => {
    const dir = path.join(fastRun, 'llc', 'as-trained');
    fs.rmSync(path.join(fastRun, 'llc'), { recursive: true, force: true });
    const lines: string[] = [];
    const opts = { checkpoints: '8000,16000', draws: '20', chains: '2', heads: 'L1H2,L2H3' };
    const f = (await llcCommand(
      { runDir: fastRun, ...opts, workers: '2', progress: 'none' },
      { out: (l) => lines.push(l) },
    )) as LlcRunFile;
    for (const x of [
      'llc.json',
      'llc.csv',
      'heads.csv',
      'checkpoints/seq-8000.json',
      'checkpoints/seq-16000.traces.csv',
    ])
      assert.ok(fs.existsSync(path.join(dir, x)), x);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'llc.json'), 'utf8')), JSON.parse(JSON.stringify(f)));
    assert.equal(f.format, 'induction-lab/llc-v1');
    assert.deepEqual(
      f.points.map((p) => p.sequences),
      [8000, 16000],
    );
    for (const p of f.points) {
      assert.ok(p.model && Number.isFinite(p.model.mean) && p.model.running.mean.length === 20);
      assert.deepEqual(Object.keys(p.heads).sort(), ['L1H2', 'L2H3']);
      assert.ok(p.trainLoss !== null && p.inductionStrength?.length === 8);
    }
    assert.equal(f.settings.sampled, f.settings.size);
    assert.match(lines.join('\n'), /as trained \(the run has no clamps\) · fast engine/);
    assert.match(fs.readFileSync(path.join(dir, 'llc.csv'), 'utf8'), /^sequences,step,llc,llc_std,/);
    assert.equal(fs.readFileSync(path.join(dir, 'heads.csv'), 'utf8').trim().split('\n').length, 1 + 2 * 2);
    assert.equal(
      fs.readFileSync(path.join(dir, 'checkpoints/seq-8000.traces.csv'), 'utf8').trim().split('\n').length,
      1 + 3 * 2 * 20,
    );
    // The same request from the CLI computes nothing: every estimate is cached, the files are unchanged.
    const before = fs.readFileSync(path.join(dir, 'checkpoints/seq-8000.json'), 'utf8');
    const r = cli([
      'llc',
      fastRun,
      '--checkpoints',
      opts.checkpoints,
      '--draws',
      opts.draws,
      '--chains',
      opts.chains,
      '--heads',
      opts.heads,
      '--progress',
      'json',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.equal(fs.readFileSync(path.join(dir, 'checkpoints/seq-8000.json'), 'utf8'), before);
    const progress = r.err
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(progress, [
      { type: 'progress', task: 'llc', done: 0, total: 0, unit: 'SGLD steps', etaSeconds: 0, message: 'done' },
    ]);
    assert.match(r.out, /per-head LLC \(weight-refined/);
    // The TensorBoard export picks the curve up (its hook for results computed after training).
    const extra = extraScalars({ dir: RunDir.open(fastRun) } as unknown as RunSnapshot);
    const at = (seq: number) => new Map(extra.find((e) => e.step === seq)!.scalars.map((x) => [x.tag, x.value]));
    assert.equal(at(8000).get('llc/llc'), f.points[0].model!.mean);
    assert.equal(at(16000).get('llc/heads/L2H3/llc'), f.points[1].heads.L2H3.mean);
  },
);

test('--follow estimates checkpoints as they arrive and stops when the run does', async () => {
  const src = RunDir.open(fastRun);
  const dst = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-llc-follow-')), 'live');
  const rj = src.readRunJson<Record<string, unknown>>();
  dst.writeRunJson({ ...rj, status: 'running' });
  const lock = RunLock.acquire(dst.path, 'test: a training that is still running');
  const refs = src.listCheckpoints();
  const copy = (i: number) => fs.copyFileSync(refs[i].path, dst.checkpointPath(refs[i].sequences));
  copy(0);
  copy(1);
  const file = path.join(dst.path, 'llc', 'as-trained', 'llc.json');
  const done = llcCommand(
    { runDir: dst.path, follow: true, chains: '2', draws: '10', workers: '1', progress: 'none' },
    { out: () => {}, pollMs: 50 },
  );
  const points = () =>
    fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as LlcRunFile).points.length : 0;
  for (let t = 0; points() < 2 && t < 600; t++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(points(), 2, 'the checkpoints already there');
  copy(2);
  for (let t = 0; points() < 3 && t < 600; t++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(points(), 3, 'a checkpoint that arrived while following');
  dst.writeRunJson({ ...rj, status: 'completed' });
  lock.release();
  const f = (await done) as LlcRunFile;
  assert.deepEqual(
    f.points.map((p) => p.sequences),
    refs.slice(0, 3).map((r) => r.sequences),
  );
  fs.rmSync(path.dirname(dst.path), { recursive: true, force: true });
});
