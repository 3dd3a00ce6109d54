/**
 * `induction-lab train`: picks the run folder (new, `--run-id`, `--resume`), checks everything that can
 * fail before training while nothing is written (config, feature file, graft donors), takes the folder's
 * lock, then decides under the lock how to start (already complete → nothing to do; a checkpoint → resume;
 * else from 0 in a clean folder) and trains with every stop signal handled. Errors found before training
 * leave no new run folder behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EvalThreadPreference, RunConfig, resolveStoredRunConfig } from './runConfig';
import { runTraining, prepareRun, isComplete } from './trainer';
import { RunDir, makeRunId } from '../io';
import { RunLock, RunLockedError } from '../io/runLock';
import { summarizeRun } from './report';
import { onStopSignals, say } from './stopSignals';
import type { FromChildMessage } from '../../shared/protocol';

export interface TrainCommand {
  /** The new run's config (absent with resumeDir: the run's own config is used). */
  config?: RunConfig;
  /** Folder that holds run folders. */
  root: string;
  /** A fixed run folder name: finished → nothing to do, stopped → resumed, else started. */
  runId?: string;
  /** An existing run folder to continue. */
  resumeDir?: string;
  /** Overrides train.evalThread (evaluation on a worker thread or this one; the same numbers). */
  evalThread?: EvalThreadPreference;
}

/** The first path where two JSON values differ, e.g. `train.initSeed: 7 → 8`. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = a as Record<string, unknown>,
      kb = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ka), ...Object.keys(kb)])].sort()) {
      const d = firstDifference(ka[k], kb[k], at ? `${at}.${k}` : k);
      if (d) return d;
    }
    return null;
  }
  return `${at || 'config'}: ${JSON.stringify(a) ?? '(none)'} → ${JSON.stringify(b) ?? '(none)'}`;
}

/** Runs the command; errors are thrown with a one-line message (the CLI prints them and exits 2). */
export async function trainCommand(o: TrainCommand): Promise<void> {
  let dir: string, config: RunConfig, resume: boolean;
  let opened: RunDir | undefined;
  if (o.resumeDir) {
    opened = RunDir.open(o.resumeDir);
    dir = opened.path;
    config = resolveStoredRunConfig(opened.readRunJson<{ config: unknown }>().config);
    resume = true;
  } else {
    config = o.config!;
    dir = path.resolve(o.root, o.runId ?? makeRunId(config.name));
    resume = false;
    if (o.runId && fs.existsSync(path.join(dir, 'run.json'))) {
      const stored = resolveStoredRunConfig(RunDir.open(dir).readRunJson<{ config: unknown }>().config);
      const diff = firstDifference(stored, config);
      if (diff)
        throw new Error(
          `run folder ${dir} holds a run with another config (${diff}); choose another --run-id or delete the folder`,
        );
      resume = true;
    }
  }
  const prepared = await prepareRun(config);
  const created = !fs.existsSync(dir);
  // An existing folder given to --resume keeps its name, whatever it is; new ones get a checked id.
  const runDir = opened ?? RunDir.create(path.dirname(dir), path.basename(dir));
  let lock: RunLock;
  try {
    lock = RunLock.acquire(
      runDir.path,
      `induction-lab train${o.runId ? ` --run-id ${o.runId}` : o.resumeDir ? ' --resume' : ''}`,
      (m) => say(`warning: ${m}\n`),
    );
  } catch (e) {
    // A folder we made and could not lock for another reason than its owner (EACCES, …) is empty: remove it.
    if (created && !(e instanceof RunLockedError)) fs.rmSync(runDir.path, { recursive: true, force: true });
    throw e;
  }
  try {
    if (resume && isComplete(runDir)) {
      say(`${runDir.path} is already complete; nothing to do\n`);
      return;
    }
    const stop = onStopSignals((sig) =>
      say(
        `\n${sig}: stopping after this step with a checkpoint${sig === 'SIGINT' ? ' (Ctrl-C again to abort)' : ''}…\n`,
      ),
    );
    let fin;
    try {
      fin = await runTraining(config, runDir, { emit: display(), shouldStop: () => stop.signal !== null }, resume, {
        lock,
        prepared,
        evalThread: o.evalThread,
      });
    } catch (e) {
      if (created && !fs.existsSync(runDir.runJsonPath)) {
        lock.release();
        fs.rmSync(runDir.path, { recursive: true, force: true });
      }
      throw e;
    }
    if (process.stderr.isTTY) say('\n');
    try {
      process.stdout.write(summarizeRun(runDir) + '\n');
    } catch {
      /* stdout gone */
    }
    say(`${fin.status} in ${fin.seconds.toFixed(1)} s · report: ${path.join(runDir.path, 'report.md')}\n`);
    if (stop.exitCode !== undefined) process.exitCode = stop.exitCode;
  } finally {
    lock.release();
  }
}

function progressBar(done: number, total: number, extra: string): string {
  const w = 30,
    f = total > 0 ? Math.min(1, done / total) : 1;
  return `[${'#'.repeat(Math.round(f * w)).padEnd(w, '.')}] ${(f * 100).toFixed(0).padStart(3)}% ${extra}`;
}

/** The human progress display on stderr (a redrawn line on a terminal, a line every 5 s in a log). */
function display(): (m: FromChildMessage) => void {
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  return (m) => {
    if (m.type === 'started') {
      say(`run ${m.runId} → ${m.runDir}${m.startSequences ? ` (resuming at ${m.startSequences} sequences)` : ''}\n`);
      say(`engine: ${m.engine} (${m.engineDetail})${m.engineNotes.length ? `; ${m.engineNotes.join('; ')}` : ''}\n`);
      if (m.evalThreadNote) say(`${m.evalThreadNote}\n`);
    } else if (m.type === 'progress') {
      const line = progressBar(
        m.sequences,
        m.totalSequences,
        `${m.sequences}/${m.totalSequences} seq · ${m.stepsPerSecond.toFixed(0)} steps/s · loss ${m.trainLoss.toFixed(3)}`,
      );
      if (tty) say(`\r${line}`);
      else if (Date.now() - lastLine > 5000 || m.sequences >= m.totalSequences) {
        say(line + '\n');
        lastLine = Date.now();
      }
    } else if (m.type === 'metrics') {
      const r = m.record;
      const is = r.inductionStrength.length ? ` maxIS ${Math.max(...r.inductionStrength).toFixed(2)}` : '';
      say(
        `${tty ? '\r\x1b[K' : ''}eval @ ${r.sequences} seq: train loss ${r.eval.fsl_train.loss.toFixed(3)} acc ${r.eval.fsl_train.acc.toFixed(3)}${is}\n`,
      );
    } else if (m.type === 'checkpoint') {
      if (!tty) say(`checkpoint @ ${m.sequences} seq\n`);
    } else if (m.type === 'warning') say(`warning: ${m.message}\n`);
  };
}
