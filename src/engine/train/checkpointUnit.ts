/**
 * A checkpoint as one unit: what a hover shows (`seq-N.summary.json`), the optimiser and trainer state
 * that resume needs (`adam-N.safetensors`: Adam moments and step, plus the running train-loss sum of the
 * current evaluation interval) and the weights (`seq-N.safetensors`, exactly the model parameters:
 * contracts.md §3). Each file is written atomically; the weights are written last and are the commit
 * point, so a unit whose weights exist is complete, and a kill between the parts leaves only companions
 * of an uncommitted unit, which the next writer removes (cleanLeftovers). Only the newest unit keeps its
 * optimiser state (2× the weights): older checkpoints are weights + summary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  RunDir,
  summaryPath,
  writeFileAtomic,
  writeJsonAtomic,
  decodeSafetensors,
  encodeSafetensors,
  NamedTensor,
  CheckpointRef,
} from '../io';
import { Params } from '../model/params';
import { adamInit, AdamState } from './adam';
import type { CheckpointSummary } from '../../shared/protocol';

/** Written by runs before checkpoint units existed: the optimiser state of the newest checkpoint only. */
export const LEGACY_ADAM_FILE = 'adam-state.safetensors';
const ADAM_RE = /^adam-(\d+)\.safetensors$/;
const SUMMARY_RE = /^seq-(\d+)\.summary\.json$/;
const TMP_RE = /\.tmp-\d+-[0-9a-f]+$/;

/** Where the trainer is inside an evaluation interval (so the next row's mean train loss is exact after resume). */
export interface TrainerState {
  step: number;
  lossSum: number;
  lossCount: number;
}

export const adamPath = (rd: RunDir, sequences: number): string =>
  path.join(rd.checkpointsDir, `adam-${sequences}.safetensors`);

function encodeAdam(s: AdamState, t: TrainerState): Uint8Array {
  const out: Record<string, NamedTensor> = { step: { dtype: 'I32', shape: [1], data: Int32Array.of(s.step) } };
  for (const k of Object.keys(s.m)) {
    out[`m.${k}`] = { dtype: 'F32', shape: [s.m[k].length], data: s.m[k] };
    out[`v.${k}`] = { dtype: 'F32', shape: [s.v[k].length], data: s.v[k] };
  }
  // Numbers as their shortest round-trip text: the loss sum comes back bit for bit.
  return encodeSafetensors(out, {
    format: 'induction-lab/optimiser-v1',
    step: String(t.step),
    lossSum: String(t.lossSum),
    lossCount: String(t.lossCount),
  });
}

function decodeAdam(bytes: Uint8Array, source: string, params: Params): { adam: AdamState; trainer?: TrainerState } {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const adam = adamInit(params);
  const step = tensors.get('step');
  if (!step) throw new Error(`${source}: no optimiser step`);
  adam.step = Number((step.data as Int32Array)[0]);
  for (const k of Object.keys(params)) {
    const m = tensors.get(`m.${k}`),
      v = tensors.get(`v.${k}`);
    if (!m || !v || m.data.length !== params[k].length || v.data.length !== params[k].length)
      throw new Error(`${source}: optimiser state for ${k} is missing or has the wrong size`);
    adam.m[k].set(m.data as Float32Array);
    adam.v[k].set(v.data as Float32Array);
  }
  const trainer =
    metadata.lossSum !== undefined
      ? { step: Number(metadata.step), lossSum: Number(metadata.lossSum), lossCount: Number(metadata.lossCount) }
      : undefined;
  return { adam, trainer };
}

/**
 * Writes checkpoint unit N: summary, optimiser state, then the weights (commit), then drops the older
 * optimiser states. Returns the weights path.
 */
export function writeCheckpointUnit(
  rd: RunDir,
  sequences: number,
  parts: { weights: Uint8Array; summary: CheckpointSummary; adam: AdamState; trainer: TrainerState },
): string {
  fs.mkdirSync(rd.checkpointsDir, { recursive: true });
  const weights = rd.checkpointPath(sequences);
  writeJsonAtomic(summaryPath(weights), parts.summary);
  writeFileAtomic(adamPath(rd, sequences), encodeAdam(parts.adam, parts.trainer));
  rd.writeCheckpoint(sequences, parts.weights);
  for (const f of fs.readdirSync(rd.checkpointsDir)) {
    const m = ADAM_RE.exec(f);
    if ((m && Number(m[1]) !== sequences) || f === LEGACY_ADAM_FILE) rmQuiet(path.join(rd.checkpointsDir, f));
  }
  return weights;
}

export interface ResumePoint {
  checkpoint: CheckpointRef;
  /** The optimiser state saved with it, if it is still there (null: restart the Adam moments). */
  adam: AdamState | null;
  /** The trainer's loss accumulator (absent in units written before it was saved). */
  trainer?: TrainerState;
}

/** The newest complete unit, with its optimiser state read and checked against `params`' shapes. */
export function newestUnit(rd: RunDir, params: Params, batchSize: number): ResumePoint | null {
  const checkpoint = rd.latestCheckpoint();
  if (!checkpoint) return null;
  const own = adamPath(rd, checkpoint.sequences);
  if (fs.existsSync(own)) return { checkpoint, ...decodeAdam(fs.readFileSync(own), own, params) };
  const legacy = path.join(rd.checkpointsDir, LEGACY_ADAM_FILE);
  if (fs.existsSync(legacy)) {
    const { adam } = decodeAdam(fs.readFileSync(legacy), legacy, params);
    if (adam.step * batchSize === checkpoint.sequences) return { checkpoint, adam };
  }
  return { checkpoint, adam: null };
}

function rmQuiet(p: string): void {
  try {
    fs.rmSync(p, { force: true });
  } catch {
    /* best effort */
  }
}

/**
 * Removes what killed writers left: temp files of atomic writes (run folder and checkpoints/), the
 * companions of a unit whose weights were never committed, and optimiser states older than the newest
 * unit's. Call it only while holding the run's lock. Returns the names removed.
 */
export function cleanLeftovers(rd: RunDir): string[] {
  const removed: string[] = [];
  const rm = (dir: string, f: string) => {
    rmQuiet(path.join(dir, f));
    removed.push(path.relative(rd.path, path.join(dir, f)));
  };
  for (const f of safeList(rd.path)) if (TMP_RE.test(f)) rm(rd.path, f);
  const newest = rd.latestCheckpoint()?.sequences ?? -1;
  for (const f of safeList(rd.checkpointsDir)) {
    const a = ADAM_RE.exec(f),
      s = SUMMARY_RE.exec(f);
    if (TMP_RE.test(f) || (a && Number(a[1]) !== newest) || (s && Number(s[1]) > newest)) rm(rd.checkpointsDir, f);
  }
  return removed;
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
