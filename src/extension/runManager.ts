/**
 * Starts, stops and tracks training runs. Each run is a forked child process (out/child.js: the engine
 * and TensorFlow.js never load in the extension host) speaking the protocol of src/shared/protocol.ts.
 * A run shows a progress notification (its Cancel stops the run cleanly with a checkpoint), writes to
 * the log channel and counts in the status bar; listeners hear every message for live views.
 */
import * as vscode from 'vscode';
import { fork, ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FromChildMessage, ToChildMessage, StartMessage } from '../shared/protocol';

export interface ActiveRun {
  key: string;
  runId?: string;
  runDir?: string;
  child: ChildProcess;
  last?: FromChildMessage;
  cancelled: boolean;
}

export type RunListener = (run: ActiveRun, m: FromChildMessage) => void;

export class RunManager implements vscode.Disposable {
  private readonly active = new Map<string, ActiveRun>();
  private readonly listeners = new Set<RunListener>();
  private readonly status: vscode.StatusBarItem;
  private nextKey = 0;

  constructor(private readonly extensionPath: string, private readonly log: vscode.LogOutputChannel) {
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
    this.status.command = 'inductionLab.stopRun';
    this.updateStatus();
  }

  onMessage(l: RunListener): vscode.Disposable {
    this.listeners.add(l);
    return new vscode.Disposable(() => this.listeners.delete(l));
  }

  get runs(): ActiveRun[] { return [...this.active.values()]; }

  private maxConcurrent(): number {
    const n = vscode.workspace.getConfiguration('inductionLab').get<number>('maxConcurrentRuns', 0);
    return n > 0 ? n : Math.max(1, os.availableParallelism());
  }

  /** Starts a run (new or resumed). Resolves when the child reports `started`, rejects on an early error. */
  start(msg: StartMessage | { type: 'resume'; runDir: string }, title: string): Promise<ActiveRun> {
    if (!vscode.workspace.isTrusted) return Promise.reject(new Error('Induction Lab trains only in a trusted workspace (training runs code and writes files).'));
    if (this.active.size >= this.maxConcurrent()) {
      return Promise.reject(new Error(`${this.active.size} runs are training already (limit ${this.maxConcurrent()}, setting inductionLab.maxConcurrentRuns). Stop one first.`));
    }
    const child = fork(path.join(this.extensionPath, 'out', 'child.js'), [], {
      serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const run: ActiveRun = { key: `r${this.nextKey++}`, child, cancelled: false };
    this.active.set(run.key, run);
    this.updateStatus();
    child.stdout?.on('data', (d) => this.log.info(`[${run.runId ?? run.key}] ${String(d).trimEnd()}`));
    child.stderr?.on('data', (d) => this.log.warn(`[${run.runId ?? run.key}] ${String(d).trimEnd()}`));

    return new Promise((resolve, reject) => {
      let started = false;
      let report: ((m: FromChildMessage) => void) | undefined;
      child.on('message', (m: FromChildMessage) => {
        run.last = m;
        if (m.type === 'started') {
          run.runId = m.runId; run.runDir = m.runDir; started = true;
          this.log.info(`[${m.runId}] started on the ${m.engine} engine (${m.engineDetail})${m.engineNotes.length ? `; ${m.engineNotes.join('; ')}` : ''} → ${m.runDir}`);
          resolve(run);
          void this.showProgress(run, title, (f) => { report = f; });
        } else if (m.type === 'error') {
          this.log.error(`[${run.runId ?? run.key}] ${m.message}`);
          if (!started) reject(new Error(m.message));
          else void vscode.window.showErrorMessage(`Induction Lab run ${run.runId} failed: ${m.message}`);
        } else if (m.type === 'warning') this.log.warn(`[${run.runId}] ${m.message}`);
        else if (m.type === 'checkpoint') this.log.info(`[${run.runId}] checkpoint at ${m.sequences} sequences`);
        else if (m.type === 'finished') this.log.info(`[${run.runId}] ${m.status} after ${m.sequences} sequences in ${m.seconds.toFixed(1)} s`);
        report?.(m);
        for (const l of this.listeners) l(run, m);
      });
      child.on('exit', (code, signal) => {
        this.active.delete(run.key);
        this.updateStatus();
        if (!started) reject(new Error(`the training process exited before starting (code ${code ?? signal})`));
        if (code && code !== 0 && run.last?.type !== 'error') this.log.error(`[${run.runId ?? run.key}] training process exited with code ${code}`);
        report?.({ type: 'finished', status: run.cancelled ? 'cancelled' : 'failed', sequences: 0, runDir: run.runDir ?? '', seconds: 0 });
      });
      child.send(msg as ToChildMessage);
    });
  }

  private showProgress(run: ActiveRun, title: string, attach: (f: (m: FromChildMessage) => void) => void): Thenable<void> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Induction Lab: ${title}`, cancellable: true }, (progress, token) =>
      new Promise<void>((done) => {
        let lastPct = 0;
        token.onCancellationRequested(() => this.stop(run));
        attach((m) => {
          if (m.type === 'progress') {
            const pct = (100 * m.sequences) / m.totalSequences;
            progress.report({ increment: pct - lastPct, message: `${m.sequences.toLocaleString('en-US')} / ${m.totalSequences.toLocaleString('en-US')} sequences · loss ${m.trainLoss.toFixed(3)} · ${m.stepsPerSecond.toFixed(0)} steps/s` });
            lastPct = pct;
          } else if (m.type === 'finished') done();
        });
      }));
  }

  /** Asks a run to stop after its current step; it saves a checkpoint and can be resumed. */
  stop(run: ActiveRun): void {
    run.cancelled = true;
    if (run.child.connected) run.child.send({ type: 'cancel' } satisfies ToChildMessage);
    // If it does not stop in time (a long evaluation), terminate it; SIGTERM also stops it cleanly.
    setTimeout(() => { if (run.child.exitCode === null) run.child.kill('SIGTERM'); }, 15_000).unref();
  }

  private updateStatus(): void {
    const n = this.active.size;
    this.status.text = `$(beaker) ${n} training`;
    this.status.tooltip = n ? 'Induction Lab: runs training — click to stop one' : '';
    void vscode.commands.executeCommand('setContext', 'inductionLab.training', n > 0);
    if (n) this.status.show(); else this.status.hide();
  }

  dispose(): void {
    for (const r of this.active.values()) { r.cancelled = true; r.child.kill('SIGTERM'); }
    this.status.dispose();
  }
}
