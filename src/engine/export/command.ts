/**
 * `induction-lab export RUN [--tensorboard DIR] [--format FORMAT [OUT]]`: a run folder in the formats
 * researchers already use. Formats and their default outputs (inside the run folder):
 *
 * | format       | OUT (default)                | what                                                    |
 * |--------------|------------------------------|---------------------------------------------------------|
 * | tensorboard  | RUN/tensorboard/             | one events.out.tfevents.* file (also: --tensorboard DIR) |
 * | icl-dynamics | RUN/icl-dynamics/            | the authors' config.json, log.h5, eval_data.h5           |
 * | csv          | RUN/metrics.csv (`-`: stdout)| one row per evaluation                                   |
 * | parquet      | RUN/metrics.parquet          | the same table, Parquet (PLAIN, uncompressed)            |
 * | eval-sets    | RUN/eval-sets.safetensors    | the fixed evaluation sequences (for the Python reader)   |
 *
 * A run that is still training is exported as a snapshot up to its last complete evaluation, and the
 * command says so.
 */
import * as path from 'node:path';
import { readRunSnapshot, RunSnapshot } from './snapshot';
import { writeRunEvents, TENSORBOARD_DIR } from './tensorboardRun';
import { writeIclDynamics } from './iclDynamics';
import { metricsCsv, writeMetricsCsv } from './table';
import { writeMetricsParquet } from './parquet';
import { writeEvalSets, EVAL_SETS_FILE } from './evalSets';

export const EXPORT_FORMATS = ['tensorboard', 'icl-dynamics', 'csv', 'parquet', 'eval-sets'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportOptions {
  run: string;
  /** --tensorboard DIR */
  tensorboard?: string;
  format?: string;
  out?: string;
  /** icl-dynamics: skip eval_data.h5 (it regenerates the features). */
  evalData?: boolean;
}

export interface ExportIO {
  /** What was written: one line each (stdout). */
  say(line: string): void;
  /** Notes (a snapshot of a running run, what did not map): stderr. */
  note(line: string): void;
  /** csv to `-`. */
  stdout(text: string): void;
}

export function defaultOut(s: RunSnapshot, format: ExportFormat): string {
  const files: Record<ExportFormat, string> = {
    tensorboard: TENSORBOARD_DIR,
    'icl-dynamics': 'icl-dynamics',
    csv: 'metrics.csv',
    parquet: 'metrics.parquet',
    'eval-sets': EVAL_SETS_FILE,
  };
  return path.join(s.dir.path, files[format]);
}

export async function exportCommand(o: ExportOptions, io: ExportIO): Promise<void> {
  const jobs: Array<{ format: ExportFormat; out?: string }> = [];
  if (o.tensorboard !== undefined) jobs.push({ format: 'tensorboard', out: o.tensorboard });
  if (o.format !== undefined) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) {
      throw new Error(`unknown export format "${o.format}" (known: ${EXPORT_FORMATS.join(', ')})`);
    }
    jobs.push({ format: o.format as ExportFormat, out: o.out });
  } else if (o.out !== undefined) {
    throw new Error(`an output (${o.out}) needs --format FORMAT (${EXPORT_FORMATS.join(', ')})`);
  }
  if (jobs.length === 0) {
    throw new Error(`export needs --tensorboard DIR or --format FORMAT [OUT] (${EXPORT_FORMATS.join(', ')})`);
  }
  const s = readRunSnapshot(o.run);
  if (s.note) io.note(`note: ${s.note}`);
  for (const j of jobs) {
    const out = path.resolve(j.out ?? defaultOut(s, j.format));
    switch (j.format) {
      case 'tensorboard': {
        if (s.training && path.resolve(out) === path.join(s.dir.path, TENSORBOARD_DIR)) {
          // TensorBoard only tails the newest file of a folder: a second file would hide the live one's new events.
          throw new Error(
            `run ${s.dir.id} is still training and writes ${out} itself; ` + 'export its events to another folder',
          );
        }
        const r = writeRunEvents(s, out);
        const llc = r.extra ? `, ${r.extra} LLC points` : '';
        io.say(`wrote ${r.file} (${r.evaluations} evaluations, ${r.scalars} scalars${llc})`);
        break;
      }
      case 'icl-dynamics': {
        const r = await writeIclDynamics(s, out, { evalData: o.evalData });
        io.say(`wrote ${r.files.join(', ')} (${r.evaluations} evaluations)`);
        for (const u of r.unmapped) io.note(`not mapped: ${u}`);
        break;
      }
      case 'csv': {
        if (j.out === '-') {
          io.stdout(metricsCsv(s).text);
          break;
        }
        const r = writeMetricsCsv(s, out);
        io.say(`wrote ${out} (${r.rows} rows × ${r.columns} columns)`);
        break;
      }
      case 'parquet': {
        const r = writeMetricsParquet(s, out);
        io.say(`wrote ${out} (${r.rows} rows × ${r.columns} columns)`);
        break;
      }
      case 'eval-sets': {
        const r = await writeEvalSets(s.config, out);
        io.say(`wrote ${out} (${r.sets.join(', ')}: ${r.sequences} sequences)`);
        break;
      }
    }
  }
}
