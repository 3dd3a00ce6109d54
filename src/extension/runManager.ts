/**
 * The one place the extension forks children: training runs (out/child.js, the protocol of
 * src/shared/protocol.ts), CLI tasks (out/cli.js measure / reproduce / subcircuits with `--progress json`,
 * contracts.md §2) and short CLI commands for the views (runCli: `patterns`). The engine and TensorFlow.js
 * never load in the extension host. One concurrency limit (setting inductionLab.maxConcurrentRuns, default
 * one per core) counts runs and tasks: a run takes one slot, a task the workers it is given (a short runCli
 * command takes none). Each run and task shows a progress notification whose Cancel stops it (a run stops
 * with a checkpoint), writes to the log channel and counts in the status bar. A run ends with a
 * notification: completion (final losses, learning time, strongest free induction head, report.md and
 * loss.svg), or a stop with Resume.
 */
import * as vscode from 'vscode';
import { fork, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CliProgress, FromChildMessage, MetricsRecord, ToChildMessage, StartMessage } from '../shared/protocol';
import { LineSplitter, parseCliProgress } from '../shared/cliProgress';
import { ProgressBoard } from './taskProgress';
import { runName } from '../shared/runName';
import { RunDir } from '../engine/io/runStore';
import { summarizeRun } from '../engine/train/report';
import { completionFacts, completionMessage, stopMessage } from './runFeedback';
import type { ListOptions } from './runListing';

export interface ActiveRun {
  key: string;
  runId?: string;
  runDir?: string;
  child: ChildProcess;
  last?: FromChildMessage;
  cancelled: boolean;
  /** The run's unique name (runName().full), once started. */
  name?: string;
  totalSequences?: number;
  checkpoints: number;
}

export interface ActiveTask {
  key: string;
  title: string;
  child: ChildProcess;
  slots: number;
  cancelled: boolean;
}

export interface TaskOptions {
  /** Notification title ("reproducing fig5b (fast)"). */
  title: string;
  /** Arguments of out/cli.js; `--progress json` is added. */
  args: string[];
  /** Slots wanted (workers); it gets what is free, at least 1. `workersFlag` adds `--workers N`. */
  slots?: number;
  workersFlag?: boolean;
  /** Cancel sends this signal (the CLI stops training runs after their step on SIGINT). */
  cancelSignal?: NodeJS.Signals;
  onProgress?: (p: CliProgress) => void;
  /**
   * The task name of the outer of two counters (measure over training: "measure", counting checkpoints);
   * the notification then shows it and the inner one (the current measure's configurations).
   */
  outerTask?: string;
}

export interface TaskResult {
  code: number | null;
  cancelled: boolean;
  stdout: string;
}

/** A short CLI child without a notification (runCli): its exit code, stdout and the tail of its stderr. */
export interface CliOutput {
  code: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
}
export interface CliJob {
  done: Promise<CliOutput>;
  kill(): void;
}
/** What views need to run a short CLI command (RunManager implements it). */
export interface CliRunner {
  runCli(args: string[]): CliJob;
}

export type RunListener = (run: ActiveRun, m: FromChildMessage) => void;

/** The refusal in an untrusted workspace (Restricted Mode). */
export const UNTRUSTED = (what = 'training') =>
  `${what} runs only in a trusted workspace (it runs code and writes files): trust this folder with "Workspaces: Manage Workspace Trust" first`;

export class RunManager implements vscode.Disposable, CliRunner {
  private readonly active = new Map<string, ActiveRun>();
  private readonly tasks = new Map<string, ActiveTask>();
  /** Short CLI children of runCli (no slot, no notification). */
  private readonly quick = new Set<ChildProcess>();
  private readonly listeners = new Set<RunListener>();
  private readonly status: vscode.StatusBarItem;
  /** Run folders whose child exited without finishing the run (killed): shown as interrupted. */
  private readonly died = new Set<string>();
  /** The last notifications shown (tests read them; the smoke-test driver hides toasts). */
  readonly notices: string[] = [];
  /** The last task progress messages shown (tests read them). */
  readonly progressMessages: string[] = [];
  private nextKey = 0;

  constructor(
    private readonly extensionPath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
    this.status.command = 'inductionLab.stopRun';
    this.updateStatus();
  }

  onMessage(l: RunListener): vscode.Disposable {
    this.listeners.add(l);
    return new vscode.Disposable(() => this.listeners.delete(l));
  }

  get runs(): ActiveRun[] {
    return [...this.active.values()];
  }
  get activeTasks(): ActiveTask[] {
    return [...this.tasks.values()];
  }

  /** For the runs tree: which runs a child of ours trains, and which died under us. */
  liveness(): ListOptions {
    return { owned: new Set(this.runs.map((r) => r.runDir).filter((d): d is string => !!d)), died: this.died };
  }

  maxConcurrent(): number {
    const n = vscode.workspace.getConfiguration('inductionLab').get<number>('maxConcurrentRuns', 0);
    return n > 0 ? n : Math.max(1, os.availableParallelism());
  }

  private used(): number {
    return this.active.size + [...this.tasks.values()].reduce((a, t) => a + t.slots, 0);
  }

  private refuseIfFull(what: string): void {
    if (!vscode.workspace.isTrusted) throw new Error(UNTRUSTED(what));
    if (this.used() >= this.maxConcurrent()) {
      throw new Error(
        `${this.used()} of ${this.maxConcurrent()} training slots are busy (setting inductionLab.maxConcurrentRuns). Stop a run or task first.`,
      );
    }
  }

  private notify(kind: 'info' | 'warning', text: string, buttons: Array<[string, () => unknown]>): void {
    this.notices.push(text);
    if (this.notices.length > 20) this.notices.shift();
    const show = kind === 'info' ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
    // Not awaited: the promise settles only when the notification is dismissed.
    void show(`Induction Lab: ${text}`, ...buttons.map(([b]) => b)).then((choice) =>
      buttons.find(([b]) => b === choice)?.[1](),
    );
  }

  /** Starts a run (new or resumed). Resolves when the child reports `started`, rejects on an early error. */
  start(msg: StartMessage | { type: 'resume'; runDir: string }, title: string): Promise<ActiveRun> {
    try {
      this.refuseIfFull('training');
    } catch (e) {
      return Promise.reject(e);
    }
    const child = this.fork('child.js', [], 'advanced');
    const run: ActiveRun = { key: `r${this.nextKey++}`, child, cancelled: false, checkpoints: 0 };
    this.active.set(run.key, run);
    this.updateStatus();
    child.stdout?.on('data', (d) => this.log.info(`[${run.runId ?? run.key}] ${String(d).trimEnd()}`));
    child.stderr?.on('data', (d) => this.log.warn(`[${run.runId ?? run.key}] ${String(d).trimEnd()}`));

    return new Promise((resolve, reject) => {
      let started = false,
        finished = false;
      let report: ((m: FromChildMessage) => void) | undefined;
      let clamps: unknown;
      child.on('message', (m: FromChildMessage) => {
        run.last = m;
        if (m.type === 'started') {
          run.runId = m.runId;
          run.runDir = m.runDir;
          run.totalSequences = m.totalSequences;
          started = true;
          const cfg = (m.config ?? {}) as {
            preset?: string;
            name?: string;
            clamps?: unknown;
            model?: { numHeads?: number };
          };
          clamps = cfg.clamps;
          let displayName: unknown;
          try {
            displayName = RunDir.open(m.runDir).readRunJson<{ displayName?: unknown }>().displayName;
          } catch {
            /* new run */
          }
          run.name = runName({
            id: m.runId,
            displayName,
            preset: cfg.preset,
            name: cfg.name,
            clamps,
            numHeads: cfg.model?.numHeads,
          }).full;
          this.died.delete(m.runDir);
          this.log.info(
            `[${m.runId}] started on the ${m.engine} engine (${m.engineDetail})${m.engineNotes.length ? `; ${m.engineNotes.join('; ')}` : ''} → ${m.runDir}`,
          );
          resolve(run);
          void this.showProgress(run, `${title}: ${run.name}`, (f) => {
            report = f;
          });
        } else if (m.type === 'error') {
          this.log.error(`[${run.runId ?? run.key}] ${m.message}`);
          if (!started) reject(new Error(m.message));
          else void vscode.window.showErrorMessage(`Induction Lab: ${run.name ?? run.runId} failed: ${m.message}`);
        } else if (m.type === 'warning') {
          this.log.warn(`[${run.runId ?? run.key}] ${m.message}`);
          void vscode.window.showWarningMessage(`Induction Lab: ${m.message}`);
        } else if (m.type === 'checkpoint') {
          run.checkpoints++;
          this.log.info(`[${run.runId}] checkpoint at ${m.sequences} sequences`);
        } else if (m.type === 'finished') {
          finished = true;
          this.log.info(`[${run.runId}] ${m.status} after ${m.sequences} sequences in ${m.seconds.toFixed(1)} s`);
          this.announce(run, m, clamps);
        }
        report?.(m);
        for (const l of this.listeners) l(run, m);
      });
      child.on('exit', (code, signal) => {
        this.active.delete(run.key);
        this.updateStatus();
        if (!started) reject(new Error(`the training process exited before starting (code ${code ?? signal})`));
        if (code && code !== 0 && run.last?.type !== 'error')
          this.log.error(`[${run.runId ?? run.key}] training process exited with code ${code ?? signal}`);
        if (started && !finished && run.runDir) {
          // Killed before it could record an end: run.json still says "running".
          this.died.add(run.runDir);
          this.notify(
            'warning',
            `${run.name ?? run.runId} was interrupted (its process ended with ${signal ?? `code ${code}`}); Resume continues from its last checkpoint.`,
            [['Resume', () => vscode.commands.executeCommand('inductionLab.resumeRun', run.runDir)]],
          );
          for (const l of this.listeners)
            l(run, { type: 'finished', status: 'failed', sequences: 0, runDir: run.runDir, seconds: 0 });
        }
        report?.({
          type: 'finished',
          status: run.cancelled ? 'cancelled' : 'failed',
          sequences: 0,
          runDir: run.runDir ?? '',
          seconds: 0,
        });
      });
      // A run started while others train (or tasks hold slots) has no spare core for its evaluation thread
      // (train/evalThread.ts): its evaluation stays on the training thread; a run that had one keeps it.
      const crowded = 2 * this.used() > os.availableParallelism();
      child.send((crowded ? { ...msg, evalThread: 'off' } : msg) as ToChildMessage);
    });
  }

  /** The notification a run ends with. */
  private announce(run: ActiveRun, m: Extract<FromChildMessage, { type: 'finished' }>, clamps: unknown): void {
    const name = run.name ?? run.runId ?? 'run';
    const dir = m.runDir || run.runDir;
    if (!dir) return;
    const open = (file: string) => () =>
      vscode.commands.executeCommand('vscode.open', vscode.Uri.file(path.join(dir, file)));
    const dashboard = () => vscode.commands.executeCommand('inductionLab.openDashboard', dir);
    if (m.status === 'completed') {
      // The CLI writes report.md and loss.svg at the end of a run; the training child does not: write them here.
      if (!fs.existsSync(path.join(dir, 'report.md'))) {
        try {
          summarizeRun(RunDir.open(dir));
        } catch (e) {
          this.log.warn(`[${run.runId}] no report.md: ${(e as Error).message}`);
        }
      }
      let records: MetricsRecord[] = [];
      try {
        records = RunDir.open(dir).readMetrics<MetricsRecord>();
      } catch {
        /* no metrics */
      }
      const buttons: Array<[string, () => unknown]> = [];
      if (fs.existsSync(path.join(dir, 'report.md'))) buttons.push(['Open report.md', open('report.md')]);
      if (fs.existsSync(path.join(dir, 'loss.svg'))) buttons.push(['Open loss.svg', open('loss.svg')]);
      buttons.push(['Dashboard', dashboard]);
      this.notify('info', completionMessage(name, completionFacts(records, clamps), m.seconds), buttons);
    } else if (m.status === 'cancelled') {
      let hasCheckpoint = run.checkpoints > 0;
      try {
        hasCheckpoint = !!RunDir.open(dir).latestCheckpoint();
      } catch {
        /* keep */
      }
      this.notify('info', stopMessage(name, m.sequences, run.totalSequences, hasCheckpoint), [
        ['Resume', () => vscode.commands.executeCommand('inductionLab.resumeRun', dir)],
        ['Dashboard', dashboard],
      ]);
    }
  }

  private showProgress(
    run: ActiveRun,
    title: string,
    attach: (f: (m: FromChildMessage) => void) => void,
  ): Thenable<void> {
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Induction Lab: ${title}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((done) => {
          let lastPct = 0;
          token.onCancellationRequested(() => this.stop(run));
          attach((m) => {
            if (m.type === 'progress') {
              const pct = (100 * m.sequences) / m.totalSequences;
              progress.report({
                increment: pct - lastPct,
                message: `${m.sequences.toLocaleString('en-US')} / ${m.totalSequences.toLocaleString('en-US')} sequences · loss ${m.trainLoss.toFixed(3)} · ${m.stepsPerSecond.toFixed(0)} steps/s`,
              });
              lastPct = pct;
            } else if (m.type === 'finished') done();
          });
        }),
    );
  }

  /** Asks a run to stop after its current step; it saves a checkpoint and can be resumed. */
  stop(run: ActiveRun): void {
    run.cancelled = true;
    if (run.child.connected) run.child.send({ type: 'cancel' } satisfies ToChildMessage);
    // If it does not stop in time (a long evaluation), terminate it; SIGTERM also stops it cleanly.
    setTimeout(() => {
      if (run.child.exitCode === null) run.child.kill('SIGTERM');
    }, 15_000).unref();
  }

  /**
   * Runs `out/cli.js ARGS --progress json` in a child with a cancellable progress notification fed by its
   * progress lines. Resolves when it exits (cancelled or not); rejects with its last stderr line on failure.
   */
  runTask(o: TaskOptions): Promise<TaskResult> {
    try {
      this.refuseIfFull(o.args[0] === 'measure' ? 'measuring' : 'training');
    } catch (e) {
      return Promise.reject(e);
    }
    const slots = Math.max(1, Math.min(o.slots ?? 1, this.maxConcurrent() - this.used()));
    const args = [...o.args, '--progress', 'json', ...(o.workersFlag ? ['--workers', String(slots)] : [])];
    return Promise.resolve(
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Induction Lab: ${o.title}`, cancellable: true },
        (progress, token) =>
          new Promise<TaskResult>((resolve, reject) => {
            const child = this.fork('cli.js', args);
            const task: ActiveTask = { key: `t${this.nextKey++}`, title: o.title, child, slots, cancelled: false };
            this.tasks.set(task.key, task);
            this.updateStatus();
            this.log.info(`[${task.key}] cli.js ${args.join(' ')}`);
            token.onCancellationRequested(() => {
              task.cancelled = true;
              child.kill(o.cancelSignal ?? 'SIGTERM');
            });
            const board = new ProgressBoard(o.outerTask);
            let lastPct = 0,
              stdout = '';
            const errors: string[] = [];
            const out = new LineSplitter((l) => {
              stdout = (stdout + l + '\n').slice(-20_000);
              this.log.info(`[${task.key}] ${l}`);
            });
            const err = new LineSplitter((l) => {
              const p = parseCliProgress(l);
              if (!p) {
                errors.push(l);
                if (errors.length > 20) errors.shift();
                this.log.warn(`[${task.key}] ${l}`);
                return;
              }
              const v = board.update(p);
              progress.report({ increment: v.percent - lastPct, message: v.message });
              lastPct = v.percent;
              this.progressMessages.push(v.message);
              if (this.progressMessages.length > 50) this.progressMessages.shift();
              o.onProgress?.(p);
            });
            child.stdout?.on('data', (d) => out.push(d));
            child.stderr?.on('data', (d) => err.push(d));
            child.on('error', (e) => reject(e));
            child.on('exit', (code, signal) => {
              out.end();
              err.end();
              this.tasks.delete(task.key);
              this.updateStatus();
              this.log.info(`[${task.key}] exited with ${code ?? signal}`);
              if (code === 0 || task.cancelled) resolve({ code, cancelled: task.cancelled, stdout });
              else
                reject(
                  new Error(
                    errors.at(-1)?.replace(/^induction-lab: /, '') || `${o.args[0]} exited with ${code ?? signal}`,
                  ),
                );
            });
          }),
      ),
    );
  }

  /** The one place the extension forks: a bundled entry of out/ (the engine never loads in this process). */
  private fork(entry: 'child.js' | 'cli.js', args: string[], serialization?: 'advanced'): ChildProcess {
    return fork(path.join(this.extensionPath, 'out', entry), args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      ...(serialization ? { serialization } : {}),
    });
  }

  /**
   * A short CLI command (the attention view's `patterns`: one forward pass, about a second) in a child,
   * without a notification. It takes no training slot — a view must not wait behind a run for minutes —
   * but it is logged and killed with the others on dispose. It only reads a run, so an untrusted workspace
   * allows it (as before).
   */
  runCli(args: string[]): CliJob {
    let child: ChildProcess | undefined;
    let killed = false;
    const done = new Promise<CliOutput>((resolve, reject) => {
      const c = this.fork('cli.js', args);
      child = c;
      this.quick.add(c);
      this.log.debug(`cli.js ${args.join(' ')}`);
      let stdout = '',
        stderr = '';
      c.stdout?.on('data', (d) => {
        stdout += d;
      });
      c.stderr?.on('data', (d) => {
        stderr = (stderr + d).slice(-4000);
      });
      c.on('error', (e) => {
        this.quick.delete(c);
        reject(e);
      });
      c.on('exit', (code) => {
        this.quick.delete(c);
        resolve({ code, killed, stdout, stderr });
      });
    });
    return {
      done,
      kill: () => {
        killed = true;
        child?.kill('SIGTERM');
      },
    };
  }

  private updateStatus(): void {
    const n = this.active.size,
      t = this.tasks.size;
    this.status.text = `$(beaker) ${n} training${t ? ` · ${t} task${t > 1 ? 's' : ''}` : ''}`;
    this.status.tooltip = n
      ? 'Induction Lab: runs training — click to stop one'
      : t
        ? 'Induction Lab: tasks running (Cancel in their notification)'
        : '';
    void vscode.commands.executeCommand('setContext', 'inductionLab.training', n > 0);
    if (n || t) this.status.show();
    else this.status.hide();
  }

  dispose(): void {
    for (const r of this.active.values()) {
      r.cancelled = true;
      r.child.kill('SIGTERM');
    }
    for (const t of this.tasks.values()) {
      t.cancelled = true;
      t.child.kill('SIGTERM');
    }
    for (const c of this.quick) c.kill('SIGTERM');
    this.status.dispose();
  }
}
