/**
 * The training child process. Forked by the extension (never run in the extension host): it receives
 * one `start` or `resume` message, trains, and reports with the protocol's messages. A `cancel`
 * message or SIGTERM stops it after the current step with a checkpoint, so the run can be resumed.
 */
import { resolveRunConfig, resolveStoredRunConfig, baseConfig, DEFAULT_PRESET } from './train/runConfig';
import { runTraining } from './train/trainer';
import { resolvePreset } from './presets';
import { RunDir, makeRunId } from './io';
import type { FromChildMessage, ToChildMessage } from '../shared/protocol';
import { enableRelaxedSimd } from './fast/relaxedSimd';

enableRelaxedSimd();

let stop = false;
let started = false;

function send(m: FromChildMessage): void {
  if (process.send && process.connected) process.send(m);
}

async function handle(m: ToChildMessage): Promise<void> {
  if (m.type === 'cancel') { stop = true; return; }
  if (started) { send({ type: 'warning', message: `ignored a second "${m.type}": this process already runs a training` }); return; }
  started = true;
  try {
    let runDir: RunDir;
    let config;
    if (m.type === 'resume') {
      runDir = RunDir.open(m.runDir);
      config = resolveStoredRunConfig(runDir.readRunJson<{ config: unknown }>().config);
    } else {
      // A config without a preset stands on the paper's defaults; neither means the default preset.
      const base = m.preset || m.config === undefined ? resolvePreset(m.preset ?? DEFAULT_PRESET, m.scale ?? 'fast') : baseConfig();
      config = resolveRunConfig(m.config ?? {}, base);
      runDir = RunDir.create(m.runsRoot, m.runId ?? makeRunId(config.name));
    }
    await runTraining(config, runDir, { emit: send, shouldStop: () => stop }, m.type === 'resume');
    process.exitCode = 0;
  } catch (e) {
    send({ type: 'error', message: (e as Error).message });
    process.exitCode = 1;
  } finally {
    // Let the last messages flush, then leave even if the parent keeps the channel open.
    setTimeout(() => process.exit(), 50);
  }
}

process.on('message', (m: ToChildMessage) => { void handle(m); });
process.on('SIGTERM', () => { stop = true; if (!started) process.exit(0); });
process.on('disconnect', () => { stop = true; });
