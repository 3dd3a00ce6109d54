/**
 * `induction-lab dynamics RUN_DIR [--probe N] [--patterns] [--clean] [--components K]`: essential
 * dynamics (the ICL paper's companion to the LLC): the model's outputs on one fixed probe set at every
 * checkpoint (outputs.ts), PCA over checkpoints (pca.ts), the trajectory in PC1–PC2 and the other PC pairs
 * coloured by training time, its cusps, written to RUN_DIR/dynamics/<mode>/dynamics.{json,csv,svg}.
 *
 * With --patterns the vector concatenates two blocks of different units (logits, attention weights);
 * each block is divided by the square root of its total variance over checkpoints, so both weigh the
 * same in the PCA. Logits alone are not rescaled.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunDir, writeFileAtomic, writeJsonAtomic } from '../io';
import { readRunConfig } from '../measures/dense';
import { readCheckpoint } from '../model/checkpoint';
import { loadTaskData } from '../data';
import { initBackend } from '../model/tf';
import { activeClamps } from '../llc/transformerTarget';
import { ProgressMode, ProgressReporter } from '../llc/progress';
import type { DynamicsFile, LlcMode } from '../../shared/llc';
import { OutputModel, PROBE_SEED, outputSize, probeSet } from './outputs';
import { pca } from './pca';
import { dynamicsSvg } from './svg';

export interface DynamicsArgs {
  runDir: string;
  probe?: string;
  patterns?: boolean;
  clean?: boolean;
  components?: string;
  progress?: string;
  seed?: string;
}

export const DYNAMICS_FORMULA =
  'o_t = outputs of checkpoint t on the probe set (flattened); X = [o_t − mean_t o_t]; PCA of X over checkpoints ' +
  '(Gram-matrix eigenvectors); trajectory = PC scores';

const whole = (name: string, v: string | undefined, min: number, dflt: number): number => {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min)
    throw new Error(`--${name} must be a whole number ≥ ${min}, got "${v}"`);
  return Number(v);
};

export const dynamicsDir = (runDir: string, mode: LlcMode): string => path.join(runDir, 'dynamics', mode);

/**
 * Cusps of the PC1–PC2 trajectory: turns sharper than `minAngle` at the scale of the whole path, not of
 * checkpoint-to-checkpoint jitter. The trajectory is smoothed over log10(sequences) (Gaussian, bandwidth
 * 1.5 × the median spacing, ≥ 0.03 decades), cut into `segments` chords of equal arc length, and the
 * angle between consecutive chords is measured at each cut (reported at the nearest checkpoint).
 */
export function cusps(
  points: Array<{ sequences: number; pcs: number[] }>,
  minAngle = 60,
  segments = 25,
): Array<{ sequences: number; angleDegrees: number }> {
  const pts = points.filter((p) => p.sequences > 0 && p.pcs.length >= 2);
  if (pts.length < 4) return [];
  const xs = pts.map((p) => Math.log10(p.sequences));
  const gaps = xs
    .slice(1)
    .map((x, i) => x - xs[i])
    .sort((a, b) => a - b);
  const bw = Math.max(0.03, 1.5 * gaps[Math.floor(gaps.length / 2)]);
  const sm = xs.map((x0) => {
    let a = 0,
      b = 0,
      den = 0;
    xs.forEach((x, k) => {
      const w = Math.exp(-0.5 * ((x - x0) / bw) ** 2);
      a += w * pts[k].pcs[0];
      b += w * pts[k].pcs[1];
      den += w;
    });
    return [a / den, b / den];
  });
  const seg = sm.slice(1).map((p, i) => Math.hypot(p[0] - sm[i][0], p[1] - sm[i][1]));
  const total = seg.reduce((s, x) => s + x, 0);
  if (!(total > 0)) return [];
  // Vertices where the cumulative arc length crosses k·total/segments.
  const cut: number[] = [0];
  let acc = 0,
    next = total / segments;
  seg.forEach((l, i) => {
    acc += l;
    if (acc >= next) {
      cut.push(i + 1);
      while (next <= acc) next += total / segments;
    }
  });
  if (cut[cut.length - 1] !== sm.length - 1) cut.push(sm.length - 1);
  const out: Array<{ sequences: number; angleDegrees: number }> = [];
  for (let j = 1; j + 1 < cut.length; j++) {
    const a = sm[cut[j - 1]],
      b = sm[cut[j]],
      c = sm[cut[j + 1]];
    const u = [b[0] - a[0], b[1] - a[1]],
      v = [c[0] - b[0], c[1] - b[1]];
    const nu = Math.hypot(u[0], u[1]),
      nv = Math.hypot(v[0], v[1]);
    if (nu === 0 || nv === 0) continue;
    const ang = (Math.acos(Math.max(-1, Math.min(1, (u[0] * v[0] + u[1] * v[1]) / (nu * nv)))) * 180) / Math.PI;
    if (ang > minAngle) out.push({ sequences: pts[cut[j]].sequences, angleDegrees: ang });
  }
  return out;
}

export async function dynamicsCommand(
  a: DynamicsArgs,
  io: { out: (l: string) => void; err?: (s: string) => void },
): Promise<DynamicsFile> {
  const probeN = whole('probe', a.probe, 1, 1024);
  const k = whole('components', a.components, 1, 10);
  const seed = whole('seed', a.seed, 0, PROBE_SEED);
  const mode: LlcMode = a.clean ? 'clean' : 'as-trained';
  const progressMode = (a.progress ?? 'text') as ProgressMode;
  if (!['text', 'json', 'none'].includes(progressMode))
    throw new Error(`--progress must be json, text or none, got "${a.progress}"`);
  const rd = RunDir.open(a.runDir);
  const run = readRunConfig(rd);
  const refs = rd.listCheckpoints();
  if (refs.length === 0)
    throw new Error(`run ${rd.path} has no checkpoints (${rd.checkpointsDir} holds no seq-N.safetensors)`);
  if (refs.length < 2) throw new Error(`essential dynamics needs at least 2 checkpoints; run ${rd.path} has 1`);
  const t0 = Date.now();
  const task = await loadTaskData(run.data);
  const { batch: probe, denseSize } = probeSet(task, probeN, seed);
  const features = a.patterns ? ['logits', 'patterns'] : ['logits'];
  const sizes = outputSize(run.model, probe.size, { patterns: !!a.patterns });
  io.out(
    `run ${rd.path}\n${refs.length} checkpoints · probe ${probe.size} of the ${denseSize} dense training sequences ` +
      `(seed ${seed}) · ${features.join(' + ')} (${sizes.logits + sizes.patterns} values per checkpoint) · ` +
      `${mode === 'clean' ? 'clean (no clamp)' : run.clamps.length ? "the run's clamps applied" : 'no clamps'}`,
  );
  const models = new Map<string, OutputModel>();
  const progress = new ProgressReporter(progressMode, 'dynamics', refs.length, 'checkpoints', io.err);
  const rows: Float32Array[] = [];
  for (const ref of refs) {
    const clamps = mode === 'clean' ? [] : activeClamps(run.clamps, ref.sequences);
    const key = JSON.stringify(clamps);
    let m = models.get(key);
    if (!m) {
      m = new OutputModel(run.model, task, clamps, ref.sequences);
      if (m.engine.engine === 'tfjs') await initBackend('auto');
      models.set(key, m);
    }
    rows.push(m.outputs(readCheckpoint(ref.path, run.model).params, probe, { patterns: !!a.patterns }));
    progress.add(1);
  }
  progress.finish();
  let scaling = 'none (logits only)';
  if (a.patterns) {
    // Each block to unit total variance over checkpoints.
    const blocks: Array<[number, number]> = [
      [0, sizes.logits],
      [sizes.logits, sizes.logits + sizes.patterns],
    ];
    const scales = blocks.map(([s, e]) => {
      let tv = 0;
      for (let j = s; j < e; j++) {
        let mu = 0;
        for (const r of rows) mu += r[j];
        mu /= rows.length;
        for (const r of rows) tv += (r[j] - mu) ** 2;
      }
      return tv > 0 ? 1 / Math.sqrt(tv / rows.length) : 1;
    });
    for (const r of rows)
      blocks.forEach(([s, e], b) => {
        for (let j = s; j < e; j++) r[j] *= scales[b];
      });
    scaling =
      `each block divided by √(its total variance over checkpoints): logits ×${scales[0].toPrecision(3)}, ` +
      `patterns ×${scales[1].toPrecision(3)}`;
  }
  const res = pca(rows, k);
  const points = refs.map((r, i) => ({
    sequences: r.sequences,
    step: Math.round(r.sequences / run.train.batchSize),
    pcs: res.scores[i],
  }));
  const file: DynamicsFile = {
    format: 'induction-lab/dynamics-v1',
    run: rd.path,
    mode,
    features,
    probe: { sequences: probe.size, seed, source: `seeded subsample of the ${denseSize} dense training sequences` },
    dimension: sizes.logits + sizes.patterns,
    blockScaling: scaling,
    explainedVariance: res.explained,
    points,
    cusps: cusps(points),
    formula: DYNAMICS_FORMULA,
    created: new Date().toISOString(),
  };
  const dir = dynamicsDir(rd.path, mode);
  fs.mkdirSync(dir, { recursive: true });
  writeJsonAtomic(path.join(dir, 'dynamics.json'), file);
  const kk = points[0]?.pcs.length ?? 0;
  writeFileAtomic(
    path.join(dir, 'dynamics.csv'),
    [
      `sequences,step,${Array.from({ length: kk }, (_, i) => `pc${i + 1}`).join(',')}`,
      ...points.map((p) => [p.sequences, p.step, ...p.pcs].join(',')),
    ].join('\n') + '\n',
  );
  writeFileAtomic(path.join(dir, 'dynamics.svg'), dynamicsSvg(file));
  io.out(
    `explained variance: ${res.explained
      .slice(0, 5)
      .map((x, i) => `PC${i + 1} ${(100 * x).toFixed(1)} %`)
      .join(', ')}`,
  );
  const cuspList = file.cusps.map((c) => `${c.sequences} (${c.angleDegrees.toFixed(0)}°)`).join(', ');
  io.out(`cusps of the PC1–PC2 trajectory (turns > 60°): ${cuspList || 'none'}`);
  io.out(`formula: ${DYNAMICS_FORMULA}`);
  io.out(
    `${((Date.now() - t0) / 1000).toFixed(1)} s → ` +
      `${path.relative(rd.path, path.join(dir, 'dynamics.{json,csv,svg}'))} in ${rd.path}`,
  );
  return file;
}
