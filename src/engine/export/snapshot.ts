/**
 * A run folder read once, for exporting: its run.json, config and every complete metrics line, plus whether
 * it is still training. metrics.jsonl is append-only with one write per line, so what is read is a
 * consistent prefix: a line being written at that moment is left out (readJsonl drops a torn tail).
 */
import { RunDir, CheckpointRef } from '../io';
import { resolveStoredRunConfig, RunConfig } from '../train/runConfig';
import type { MetricsRecord } from '../../shared/protocol';

export interface RunSnapshot {
  dir: RunDir;
  runJson: Record<string, unknown>;
  config: RunConfig;
  records: MetricsRecord[];
  checkpoints: CheckpointRef[];
  /** run.json says "running": the export is a snapshot of a live (or killed) run. */
  training: boolean;
  /** One line saying what a snapshot of a running run holds (undefined for a finished run). */
  note?: string;
}

export function readRunSnapshot(dirPath: string): RunSnapshot {
  const dir = RunDir.open(dirPath);
  const runJson = dir.readRunJson<Record<string, unknown>>();
  if (typeof runJson !== 'object' || runJson === null || Array.isArray(runJson)) {
    throw new Error(`${dir.runJsonPath}: expected a JSON object`);
  }
  // The stored config is validated like a --config file, so an old or hand-edited run.json fails clearly.
  let config: RunConfig;
  try {
    config = resolveStoredRunConfig(runJson.config);
  } catch (e) {
    throw new Error(`${dir.runJsonPath}: ${(e as Error).message}`, { cause: e });
  }
  const records = dir.readMetrics<MetricsRecord>();
  const checkpoints = dir.listCheckpoints();
  const training = runJson.status === 'running';
  const last = records.at(-1)?.sequences ?? 0;
  const note = training
    ? `run ${dir.id} is still training: exporting a snapshot up to the last complete evaluation ` +
      `(${records.length} evaluations, ${last} of ${config.train.sequences} sequences)`
    : undefined;
  return { dir, runJson, config, records, checkpoints, training, note };
}
