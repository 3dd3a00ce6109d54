/**
 * The training child process. Forked by the extension and by sweeps (never run in the extension host):
 * it receives one `start` or `resume` message, trains, and reports with the protocol's messages. A
 * `cancel` message, SIGINT, SIGTERM or SIGHUP stops it after the current step with a checkpoint, so the
 * run can be resumed — and so does its parent's death (the IPC channel closes): it then checkpoints
 * instead of dying on a write to the dead channel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveRunConfig, resolveStoredRunConfig, baseConfig, RunConfig, validateEvalThread } from './train/runConfig';
import { runTraining, prepareRun, isComplete } from './train/trainer';
import { DEFAULT_PRESET, resolvePreset } from './science/presets';
import { RunDir, makeRunId } from './io';
import { RunLock, RunLockedError } from './io/runLock';
import { STOP_SIGNALS, survivePipes } from './train/stopSignals';
import type { FromChildMessage, ToChildMessage } from '../shared/protocol';
import { enableRelaxedSimd } from './fast/relaxedSimd';

enableRelaxedSimd();
survivePipes();

let stop = false;
let started = false;

/** Sends to the parent; a parent that is gone (EPIPE, closed channel) means: stop with a checkpoint. */
function send(m: FromChildMessage): void {
  if (!process.send || !process.connected) {
    stop = true;
    return;
  }
  try {
    process.send(m, undefined, {}, (err) => {
      if (err) stop = true;
    });
  } catch {
    stop = true;
  }
}

async function handle(m: ToChildMessage): Promise<void> {
  if (m.type === 'cancel') {
    stop = true;
    return;
  }
  if (started) {
    send({ type: 'warning', message: `ignored a second "${m.type}": this process already runs a training` });
    return;
  }
  started = true;
  let created: string | null = null;
  try {
    let runDir: RunDir;
    let config: RunConfig;
    if (m.type === 'resume') {
      runDir = RunDir.open(m.runDir);
      config = resolveStoredRunConfig(runDir.readRunJson<{ config: unknown }>().config);
    } else {
      // A config without a preset stands on the paper's defaults; neither means the default preset.
      const base =
        m.preset || m.config === undefined
          ? resolvePreset(m.preset ?? DEFAULT_PRESET, m.scale ?? 'fast')
          : baseConfig();
      config = resolveRunConfig(m.config ?? {}, base);
    }
    // Feature file, width, graft donors: checked before a new run folder exists.
    const prepared = await prepareRun(config);
    if (m.type === 'start') {
      const id = m.runId ?? makeRunId(config.name);
      const existed = fs.existsSync(path.resolve(m.runsRoot, id));
      runDir = RunDir.create(m.runsRoot, id);
      if (!existed) created = runDir.path;
    }
    const lock = RunLock.acquire(runDir!.path, `training child (${m.type})`, (message) =>
      send({ type: 'warning', message }),
    );
    try {
      if (m.type === 'resume' && isComplete(runDir!)) {
        send({ type: 'warning', message: `${runDir!.path} is already complete; nothing to do` });
        send({
          type: 'finished',
          status: 'completed',
          sequences: runDir!.latestCheckpoint()!.sequences,
          runDir: runDir!.path,
          seconds: 0,
        });
      } else {
        await runTraining(config, runDir!, { emit: send, shouldStop: () => stop }, m.type === 'resume', {
          lock,
          prepared,
          evalThread: m.evalThread === undefined ? undefined : validateEvalThread(m.evalThread, 'evalThread'),
        });
      }
      created = null;
    } finally {
      lock.release();
    }
    process.exitCode = 0;
  } catch (e) {
    // A folder this message created and that holds no run.json is an error found before training: remove it.
    if (created && !(e instanceof RunLockedError) && !fs.existsSync(path.join(created, 'run.json')))
      try {
        fs.rmSync(created, { recursive: true, force: true });
      } catch {
        /* ignore */
      }
    send({ type: 'error', message: (e as Error).message });
    process.exitCode = 1;
  } finally {
    // Let the last messages flush, then leave even if the parent keeps the channel open.
    setTimeout(() => process.exit(), 50);
  }
}

process.on('message', (m: ToChildMessage) => {
  void handle(m);
});
for (const sig of STOP_SIGNALS)
  process.on(sig, () => {
    stop = true;
    if (!started) process.exit(0);
  });
process.on('disconnect', () => {
  stop = true;
  if (!started) process.exit(0);
});
