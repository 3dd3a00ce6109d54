/**
 * The LLC files of a run folder (layout and types in src/shared/llc.ts, documented in README): per
 * checkpoint a JSON with traces (the cache) and a long CSV of the traces; per run an aggregate JSON and
 * two CSVs (the model's LLC, and one row per head). Every file is written atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io';
import type { LlcCheckpointFile, LlcDetail, LlcMode, LlcRunFile, LlcSummary } from '../../shared/llc';
import { DiagnosedEstimate } from './diagnostics';
import { drawExcess } from './sampler';
import { developmentSvg } from './svg';

export const LLC_DIR = 'llc';

export const llcDir = (runDir: string, mode: LlcMode): string => path.join(runDir, LLC_DIR, mode);
export const checkpointFile = (runDir: string, mode: LlcMode, sequences: number): string =>
  path.join(llcDir(runDir, mode), 'checkpoints', `seq-${sequences}.json`);
export const tracesFile = (runDir: string, mode: LlcMode, sequences: number): string =>
  path.join(llcDir(runDir, mode), 'checkpoints', `seq-${sequences}.traces.csv`);
export const calibrationFile = (
  runDir: string,
  mode: LlcMode,
  sequences: number,
  ext: 'json' | 'csv' | 'svg',
): string => path.join(llcDir(runDir, mode), 'calibration', `seq-${sequences}.${ext}`);

/** The cached checkpoint file if it matches `key` and is newer than the checkpoint, else null. */
export function readCheckpointFile(file: string, key: string, checkpointPath: string): LlcCheckpointFile | null {
  try {
    const st = fs.statSync(file);
    if (fs.statSync(checkpointPath).mtimeMs > st.mtimeMs) return null;
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as LlcCheckpointFile;
    return rec && rec.format === 'induction-lab/llc-checkpoint-v1' && rec.key === key ? rec : null;
  } catch {
    return null;
  }
}

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function toSummary(d: DiagnosedEstimate): LlcSummary {
  const e = d.estimate;
  return {
    mean: fin(e.mean),
    std: fin(e.std),
    stderr: fin(e.stderr),
    chainStderr: fin(e.chainStderr),
    initLoss: e.initLoss,
    initLossStd: e.initLossStd,
    baselineStderr: e.baselineStderr,
    meanAcceptance: fin(e.meanAcceptance),
    meanAcceptanceDevinterp: fin(e.meanAcceptanceDevinterp),
    relativeGap: fin(d.convergence.relativeGap),
    flattened: d.convergence.flattened,
    divergedChains: e.chains.filter((c) => c.diverged).length,
    chains: e.chains.length,
    warnings: d.warnings,
    seconds: e.seconds,
  };
}

export function toDetail(d: DiagnosedEstimate): LlcDetail {
  const e = d.estimate;
  return {
    ...toSummary(d),
    running: e.running,
    traces: e.chains.map((c) => ({
      chain: c.chain,
      llc: fin(c.llc),
      loss: c.loss,
      ...(c.baselineLoss ? { baselineLoss: c.baselineLoss } : {}),
      distance: c.distance,
      gradNorm: c.gradNorm,
      acceptance: c.acceptance,
      diverged: c.diverged,
      ...(c.divergence ? { divergence: c.divergence } : {}),
    })),
  };
}

/** The summary part of a detail (drops the traces). */
export function summaryOf(d: LlcDetail): LlcSummary {
  const { running: _r, traces: _t, ...s } = d;
  return s;
}

const q = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const row = (xs: unknown[]): string => xs.map(q).join(',');

export function tracesCsv(rec: LlcCheckpointFile): string {
  const out = [
    row([
      'target',
      'chain',
      'draw',
      'loss',
      'baseline_loss',
      'running_llc',
      'distance',
      'grad_norm',
      'mala_acceptance',
    ]),
  ];
  const targets: Array<[string, LlcDetail]> = [
    ...(rec.model ? [['model', rec.model] as [string, LlcDetail]] : []),
    ...Object.entries(rec.heads),
  ];
  for (const [name, d] of targets) {
    for (const t of d.traces) {
      let sum = 0;
      t.loss.forEach((l, k) => {
        sum += drawExcess(t, k, d.initLoss);
        out.push(
          row([
            name,
            t.chain,
            k,
            l,
            t.baselineLoss?.[k],
            rec.settings.nbeta * (sum / (k + 1)),
            t.distance[k],
            t.gradNorm[k],
            t.acceptance[k],
          ]),
        );
      });
    }
  }
  return out.join('\n') + '\n';
}

export function writeCheckpointFiles(runDir: string, rec: LlcCheckpointFile): string {
  const file = checkpointFile(runDir, rec.mode, rec.sequences);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeJsonAtomic(file, rec);
  writeFileAtomic(tracesFile(runDir, rec.mode, rec.sequences), tracesCsv(rec));
  return file;
}

export function runCsv(f: LlcRunFile): string {
  const out = [
    row([
      'sequences',
      'step',
      'llc',
      'llc_std',
      'llc_stderr',
      'init_loss',
      'init_loss_std',
      'mala_acceptance',
      'mala_acceptance_devinterp',
      'relative_gap',
      'flattened',
      'diverged_chains',
      'warnings',
      'train_loss',
      'max_induction_strength',
      'max_prev_token_score',
    ]),
  ];
  for (const p of f.points) {
    const m = p.model;
    out.push(
      row([
        p.sequences,
        p.step,
        m?.mean,
        m?.std,
        m?.stderr,
        m?.initLoss,
        m?.initLossStd,
        m?.meanAcceptance,
        m?.meanAcceptanceDevinterp,
        m?.relativeGap,
        m ? (m.flattened ? 1 : 0) : null,
        m?.divergedChains,
        m?.warnings.map((w) => w.code).join(' '),
        p.trainLoss,
        p.inductionStrength ? Math.max(...p.inductionStrength) : null,
        p.prevTokenScore ? Math.max(...p.prevTokenScore) : null,
      ]),
    );
  }
  return out.join('\n') + '\n';
}

export function headsCsv(f: LlcRunFile): string {
  const out = [
    row([
      'sequences',
      'step',
      'head',
      'llc',
      'llc_std',
      'llc_stderr',
      'mala_acceptance',
      'relative_gap',
      'flattened',
      'diverged_chains',
      'warnings',
    ]),
  ];
  for (const p of f.points) {
    for (const [h, s] of Object.entries(p.heads)) {
      out.push(
        row([
          p.sequences,
          p.step,
          h,
          s.mean,
          s.std,
          s.stderr,
          s.meanAcceptance,
          s.relativeGap,
          s.flattened ? 1 : 0,
          s.divergedChains,
          s.warnings.map((w) => w.code).join(' '),
        ]),
      );
    }
  }
  return out.join('\n') + '\n';
}

export function writeRunFiles(runDir: string, f: LlcRunFile): string[] {
  const dir = llcDir(runDir, f.mode);
  fs.mkdirSync(dir, { recursive: true });
  const files = [
    path.join(dir, 'llc.json'),
    path.join(dir, 'llc.csv'),
    path.join(dir, 'heads.csv'),
    path.join(dir, 'llc.svg'),
  ];
  writeJsonAtomic(files[0], f);
  writeFileAtomic(files[1], runCsv(f));
  writeFileAtomic(files[2], headsCsv(f));
  writeFileAtomic(files[3], developmentSvg(f, `LLC over training: ${path.basename(runDir)} (${f.mode})`));
  return files;
}
