/**
 * A run's scalars as TensorBoard events (`<run>/tensorboard/events.out.tfevents.*`): written live as each
 * evaluation is logged (the trainer's hook, opt-out with `train.tensorboard: false`) and by
 * `induction-lab export RUN --tensorboard DIR` for older runs. Tags: export/columns.ts. The TensorBoard step
 * is the number of training sequences seen (every x-axis of the paper), not the optimiser step.
 *
 * Each writer starts its file with SessionLog START (TensorBoard then drops the points of earlier files at
 * steps ≥ START's): at 0 for a new run or an export, so exporting again into the same folder replaces the
 * old points, and just after the checkpoint for a resumed run, whose later evaluations are recomputed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EventWriter, Scalar } from '../io/tensorboard';
import type { RunConfig } from '../train/runConfig';
import type { MetricsRecord } from '../../shared/protocol';
import { metricScalars } from './columns';
import type { RunSnapshot } from './snapshot';

export const TENSORBOARD_DIR = 'tensorboard';

/** The run config as Markdown for TensorBoard's Text tab. */
function configText(runId: string, config: RunConfig): string {
  const clamps = config.clamps.length ? config.clamps.map((c) => `\`${JSON.stringify(c)}\``).join(', ') : 'none';
  const t = config.train;
  return (
    `**${runId}** (${config.preset ?? config.name}) · lr ${t.lr} · batch ${t.batchSize} · ` +
    `${t.sequences} sequences · seed ${t.initSeed} · clamps: ${clamps}\n\n` +
    '```json\n' +
    JSON.stringify(config, null, 2) +
    '\n```'
  );
}

/** What the trainer holds while a run trains: one event file, written as each evaluation is logged. */
export interface TrainingEvents {
  record(r: MetricsRecord): void;
  close(): void;
}

/**
 * Opens the run's live event file (null when `train.tensorboard` is false). A write error is reported once
 * through `warn` and turns the writer off: metrics.jsonl stays the record, and `export --tensorboard`
 * rebuilds the events from it.
 */
export function openTrainingEvents(
  runDir: { path: string; id: string },
  config: RunConfig,
  startSequences: number,
  warn: (msg: string) => void,
): TrainingEvents | null {
  if (config.train.tensorboard === false) return null;
  let w: EventWriter | null = null;
  const fail = (e: unknown) => {
    warn(`TensorBoard events are off for this run: ${(e as Error).message} (metrics.jsonl is unaffected)`);
    try {
      w?.close();
    } catch {
      /* already failing */
    }
    w = null;
  };
  try {
    w = new EventWriter(path.join(runDir.path, TENSORBOARD_DIR));
    const now = Date.now() / 1000;
    // TensorBoard drops earlier points at steps ≥ START's: the resumed run keeps its evaluation at the checkpoint.
    const resumed = startSequences > 0;
    w.sessionStart(now, resumed ? startSequences + 1 : 0, resumed ? `resumed at ${startSequences} sequences` : '');
    w.text(now, startSequences, 'config', configText(runDir.id, config));
  } catch (e) {
    fail(e);
  }
  return {
    record(r) {
      if (!w) return;
      try {
        w.scalars(Date.now() / 1000, r.sequences, metricScalars(r, config.model.depth, config.train.lr));
      } catch (e) {
        fail(e);
      }
    },
    close() {
      if (w)
        try {
          w.close();
        } catch (e) {
          fail(e);
        }
      w = null;
    },
  };
}

/**
 * Extra scalars stored beside the run, keyed by training sequences: the hook for results computed after
 * training. LLC: every `<run>/llc/*.csv` with a `sequences` column; each other numeric column becomes
 * `llc/<column>` (from llc.csv) or `llc/<file>/<column>` (other files). The files `induction-lab llc`
 * writes (src/shared/llc.ts) are read the same way from `llc/as-trained/` (tags `llc/…`) and `llc/clean/`
 * (tags `llc_clean/…`); their `heads.csv` has one row per (checkpoint, head): `llc/heads/<head>/<column>`.
 */
export function extraScalars(s: RunSnapshot): Array<{ step: number; scalars: Scalar[] }> {
  const root = path.join(s.dir.path, 'llc');
  const sources: Array<{ dir: string; base: string }> = [
    { dir: root, base: 'llc' },
    { dir: path.join(root, 'as-trained'), base: 'llc' },
    { dir: path.join(root, 'clean'), base: 'llc_clean' },
  ];
  const bySeq = new Map<number, Scalar[]>();
  for (const src of sources) {
    let files: string[] = [];
    try {
      files = fs
        .readdirSync(src.dir)
        .filter((f) => f.endsWith('.csv'))
        .sort();
    } catch {
      continue;
    }
    for (const f of files) {
      const lines = fs
        .readFileSync(path.join(src.dir, f), 'utf8')
        .split(/\r?\n/)
        .filter((l) => l.trim() !== '');
      if (lines.length < 2) continue;
      const head = lines[0].split(',').map((h) => h.trim().replace(/^"|"$/g, ''));
      const seqCol = head.indexOf('sequences');
      if (seqCol < 0) continue;
      const headCol = head.indexOf('head');
      const prefix = f === 'llc.csv' ? src.base : `${src.base}/${f.replace(/\.csv$/, '')}`;
      for (const line of lines.slice(1)) {
        const cells = line.split(',');
        const seq = Number(cells[seqCol]);
        if (!Number.isSafeInteger(seq) || seq < 0) continue;
        const at = headCol >= 0 ? `${prefix}/${cells[headCol]}` : prefix;
        const list = bySeq.get(seq) ?? [];
        head.forEach((h, i) => {
          const v = Number(cells[i]);
          const filled = cells[i] !== undefined && cells[i].trim() !== '';
          if (i !== seqCol && i !== headCol && filled && Number.isFinite(v)) list.push({ tag: `${at}/${h}`, value: v });
        });
        bySeq.set(seq, list);
      }
    }
  }
  return [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([step, scalars]) => ({ step, scalars }));
}

export interface EventsExport {
  file: string;
  evaluations: number;
  scalars: number;
  extra: number;
}

/** Writes one event file in `outDir` with every evaluation of the snapshot (and any extra scalars). */
export function writeRunEvents(s: RunSnapshot, outDir: string): EventsExport {
  const w = new EventWriter(outDir);
  try {
    const created = Date.parse(String(s.runJson.created ?? '')) / 1000;
    const base = Number.isFinite(created) ? created : Date.now() / 1000;
    w.sessionStart(base, 0);
    w.text(base, 0, 'config', configText(s.dir.id, s.config));
    // wallTime restarts in each resumed segment: keep the event times increasing.
    let offset = 0,
      prev = 0,
      scalars = 0;
    for (const r of s.records) {
      const wt = Number.isFinite(r.wallTime) ? r.wallTime : prev;
      if (wt < prev) offset += prev;
      prev = wt;
      const list = metricScalars(r, s.config.model.depth, s.config.train.lr);
      w.scalars(base + offset + wt, r.sequences, list);
      scalars += list.length;
    }
    const extra = extraScalars(s);
    for (const e of extra) {
      w.scalars(base + offset + prev, e.step, e.scalars);
      scalars += e.scalars.length;
    }
    return { file: w.path, evaluations: s.records.length, scalars, extra: extra.length };
  } finally {
    w.close();
  }
}
