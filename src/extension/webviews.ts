/**
 * The host side of the webviews: one `ViewConnection` per webview (HTML with a nonce'd CSP, the `ready`
 * handshake, typed messages checked with the protocol's guards), the dashboard in the side panel, and
 * panels (attention, influence, subcircuits, compare, llc, paths) that restore after a reload through serializers.
 * `LabViews` keeps the state every view shares — above all the one selected step.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { webviewHtml, createNonce } from '../webview/html';
import {
  isFromWebviewMessage,
  PanelIdentity,
  ToWebviewMessage,
  FromWebviewMessage,
  ViewName,
  RunSummary,
} from '../shared/webviewProtocol';
import type { MetricsRecord } from '../shared/protocol';
import {
  attentionPatterns,
  findRuns,
  influenceMatrices,
  nearestCheckpoint,
  readMetrics,
  restorePanel,
  RunInfo,
  SelectedSteps,
  subcircuitCurves,
} from './labData';
import { fig5bConditions, fig6Columns, FIG6_ROWS } from '../engine/science/conditions';
import { throttle, type Throttled } from '../shared/throttle';
import { patternsArgs, runPatternsChild, summaryAnswers, type PatternsJob } from './patternsChild';
import { NO_LLC_YET, readLlcData } from './llcData';
import { mergeFrames, nothingMeasured, overTrainingCommand, overTrainingData } from './overTrainingData';
import type { CliRunner } from './runManager';
import { pathPatchingData } from './pathPatchingData';

const TITLES: Record<ViewName, string> = {
  dashboard: 'Induction Lab dashboard',
  attention: 'Attention patterns',
  influence: 'PTH → IH influence matrix',
  subcircuits: 'Subcircuit progress',
  compare: 'Compare runs',
  llc: 'LLC and stages',
  paths: 'Path patching (L1 → L2 edges)',
};

/** What the host knows of a view: its run(s), and a notice to show once it is ready. */
type PanelState = PanelIdentity & { notice?: string };

class ViewConnection {
  private ready = false;
  private queue: ToWebviewMessage[] = [];
  constructor(
    readonly view: ViewName,
    readonly webview: vscode.Webview,
    readonly state: PanelState,
    extensionUri: vscode.Uri,
    onMessage: (c: ViewConnection, m: FromWebviewMessage) => void,
    disposables: vscode.Disposable[],
  ) {
    webview.options = {
      enableScripts: true,
      localResourceRoots: [
        vscode.Uri.joinPath(extensionUri, 'out', 'webview'),
        vscode.Uri.joinPath(extensionUri, 'media'),
      ],
    };
    webview.html = webviewHtml({
      cspSource: webview.cspSource,
      nonce: createNonce(),
      title: TITLES[view],
      scriptUri: webview
        .asWebviewUri(vscode.Uri.joinPath(extensionUri, 'out', 'webview', `${view}.view.js`))
        .toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'webview.css')).toString(),
    });
    disposables.push(
      webview.onDidReceiveMessage((m: unknown) => {
        if (!isFromWebviewMessage(m)) return; // anything else crossing the boundary is dropped
        if (m.type === 'ready') {
          this.ready = true;
          for (const q of this.queue.splice(0)) void webview.postMessage(q);
        }
        onMessage(this, m);
      }),
    );
  }
  post(m: ToWebviewMessage): void {
    if (this.ready) void this.webview.postMessage(m);
    else this.queue.push(m);
  }
  /** Re-sent in full after `ready`, so drop what was queued for an earlier page. */
  reset(): void {
    this.queue = [];
  }
}

export class LabViews implements vscode.Disposable, vscode.WebviewViewProvider {
  private readonly conns = new Set<ViewConnection>();
  private readonly disposables: vscode.Disposable[] = [];
  /** The selected step of each run (absent = latest) and the multi-run views' cursor. */
  private readonly steps = new SelectedSteps();
  /** Session preferences the views share (figure background, attention mode), handed to views opened later. */
  private prefs: Record<string, string | number | boolean> = {};
  private runs: RunInfo[] = [];
  /** The run chosen in this session (started, or opened from the tree); unset after a reload. */
  private chosenRunId: string | undefined;
  /** The run commands act on by default: the chosen one, else the newest. */
  get activeRunId(): string | undefined {
    return this.chosenRunId ?? this.runs[0]?.summary.id;
  }

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly roots: () => string[],
    private readonly log: vscode.LogOutputChannel,
    private readonly cli: CliRunner,
  ) {
    this.refreshRuns();
    // New or rewritten aggregates (measure --checkpoints / --follow): the influence views of that run redraw.
    const aggregates = vscode.workspace.createFileSystemWatcher('**/measures/*-over-training*.json');
    const onAggregate = (u: vscode.Uri) => {
      this.log.debug(`aggregate written: ${u.fsPath}`);
      this.aggregatesChanged(path.basename(path.dirname(path.dirname(u.fsPath))));
    };
    aggregates.onDidCreate(onAggregate);
    aggregates.onDidChange(onAggregate);
    this.disposables.push(aggregates);
    for (const v of ['attention', 'influence', 'subcircuits', 'compare', 'llc', 'paths'] as const) {
      this.disposables.push(
        vscode.window.registerWebviewPanelSerializer(`inductionLab.${v}`, {
          // The page saves its own UI state, including the run(s) it shows (PanelIdentity); see restorePanel.
          deserializeWebviewPanel: async (panel, state: unknown) => {
            const runs = this.refreshRuns().map((r) => r.summary);
            this.attachPanel(v, panel, restorePanel(v, state, runs, this.activeRunId));
          },
        }),
      );
    }
  }

  // ---- state ----

  refreshRuns(): RunInfo[] {
    this.runs = findRuns(this.roots(), { groups: true }); // subcircuit and reproduce runs too (Compare)
    if (this.chosenRunId && !this.runs.some((r) => r.summary.id === this.chosenRunId)) this.chosenRunId = undefined;
    for (const c of this.conns) this.sendRuns(c);
    return this.runs;
  }

  get allRuns(): RunInfo[] {
    return this.runs;
  }
  private run(id: string | undefined): RunInfo | undefined {
    return this.runs.find((r) => r.summary.id === id);
  }

  /** A live metrics row from a training child. */
  appendMetrics(runId: string, record: MetricsRecord): void {
    for (const c of this.conns) if (this.shows(c, runId)) c.post({ type: 'metricsAppend', runId, records: [record] });
  }

  /** A run folder changed on disk (e.g. a CLI run): resend its summary and metrics. */
  runChanged(runId: string): void {
    this.refreshRuns();
    const r = this.run(runId);
    if (!r) return;
    for (const c of this.conns)
      if (this.shows(c, runId)) c.post({ type: 'metrics', runId, records: readMetrics(r.dir) });
  }

  setActiveRun(runId: string): void {
    this.chosenRunId = runId;
    for (const c of this.conns) if (c.view === 'dashboard') this.sendAll(c);
  }

  private shows(c: ViewConnection, runId: string): boolean {
    if (c.view === 'dashboard') return true;
    if (c.view === 'compare') return (c.state.runIds ?? []).includes(runId);
    return c.state.runId === runId;
  }

  private summaries(ids?: string[]): RunSummary[] {
    return this.runs.filter((r) => !ids || ids.includes(r.summary.id)).map((r) => r.summary);
  }

  private sendRuns(c: ViewConnection): void {
    if (c.view === 'compare') c.post({ type: 'runs', runs: this.summaries(c.state.runIds) });
    // Only a run chosen in this session is announced: after a reload the dashboard keeps the run it showed.
    else if (c.view === 'dashboard') c.post({ type: 'runs', runs: this.summaries(), activeRunId: this.chosenRunId });
    else
      c.post({
        type: 'runs',
        runs: this.summaries(c.state.runId ? [c.state.runId] : undefined),
        activeRunId: c.state.runId,
      });
  }

  private sendAll(c: ViewConnection): void {
    if (Object.keys(this.prefs).length) c.post({ type: 'prefs', prefs: this.prefs });
    this.sendRuns(c);
    const ids =
      c.view === 'compare'
        ? (c.state.runIds ?? [])
        : c.view === 'dashboard'
          ? this.runs.map((r) => r.summary.id)
          : c.state.runId
            ? [c.state.runId]
            : [];
    for (const id of ids) {
      const r = this.run(id);
      if (r) c.post({ type: 'metrics', runId: id, records: readMetrics(r.dir) });
    }
    for (const m of this.steps.messagesFor(c.view, (id) => this.shows(c, id))) c.post(m);
    if (c.view === 'influence' && c.state.runId) this.sendInfluence(c, c.state.runId);
    if (c.view === 'subcircuits') this.sendSubcircuits(c);
    if (c.view === 'llc' && c.state.runId) this.sendLlc(c, c.state.runId);
    if (c.view === 'paths' && c.state.runId) this.sendPaths(c, c.state.runId);
    if (c.state.notice) c.post({ type: 'status', level: 'warning', message: c.state.notice });
  }

  /**
   * The heat maps of a run (frames of the aggregates over training, plus one-checkpoint results at
   * checkpoints the aggregates lack) and its curves over training.
   */
  private sendInfluence(c: ViewConnection, runId: string, inReplyTo?: number): void {
    const r = this.run(runId);
    if (!r) return;
    const over = overTrainingData(runId, r.dir, r.summary.checkpoints ?? []);
    const matrices = mergeFrames(over.matrices, influenceMatrices(runId, r.dir));
    c.post({ type: 'influence', runId, matrices, inReplyTo });
    c.post({ type: 'overTraining', data: over.data });
    if (nothingMeasured(matrices, over.data)) {
      c.post({
        type: 'status',
        level: 'info',
        message:
          'No influence matrix computed for this run yet: run ' +
          '"Induction Lab: Compute Influence Matrix" (one checkpoint) or "Compute Measures over Training" ' +
          `(every checkpoint: \`${overTrainingCommand(r.dir)}\`).`,
      });
    }
  }

  /** The edge view: the run's path patching over training (frames of every checkpoint and corruption). */
  private sendPaths(c: ViewConnection, runId: string): void {
    const r = this.run(runId);
    if (!r) return;
    const sub = vscode.workspace.getConfiguration('inductionLab').get<number>('measureSubsample', 2000);
    c.post({
      type: 'pathPatching',
      data: pathPatchingData(runId, r.dir, r.summary.checkpoints ?? [], readMetrics(r.dir), sub),
    });
  }

  /** Whether run `runId` has path patching over training (an aggregate with at least one frame). */
  hasPathPatching(runId: string): boolean {
    const r = this.run(runId);
    return !!r && pathPatchingData(runId, r.dir, [], []).frames.length > 0;
  }

  /** Aggregates of run `runId` were written: resend its heat maps and curves, at most every 2 s per run. */
  private readonly aggregateRefresh = new Map<string, Throttled>();
  private aggregatesChanged(runId: string): void {
    let t = this.aggregateRefresh.get(runId);
    if (!t) {
      t = throttle(() => this.refreshMeasures(runId), 2000);
      this.aggregateRefresh.set(runId, t);
    }
    t();
  }

  /**
   * Asks the extension's command to compute the run's measures over training (it shows the progress);
   * `measures` given (the edge view: path-patching) skips its measure picker.
   */
  private async computeOverTraining(c: ViewConnection, runId: string, measures?: string[]): Promise<void> {
    const r = this.run(runId);
    try {
      await vscode.commands.executeCommand(
        'inductionLab.computeOverTraining',
        runId,
        ...(measures?.length ? [{ measures }] : []),
      );
    } catch (e) {
      this.log.warn(`computeOverTraining ${runId}: ${(e as Error).message}`);
      c.post({
        type: 'status',
        level: 'error',
        message:
          `Could not start the computation: ${(e as Error).message}. ` +
          `On the command line: ${r ? overTrainingCommand(r.dir) : 'induction-lab measure RUN --checkpoints all'}`,
      });
    }
  }

  sendSubcircuits(c?: ViewConnection): void {
    const labels = Object.fromEntries(
      fig5bConditions().map((k) => [k.name, { label: k.label, stepsClamped: k.label, stepsLearned: k.stepsLearned }]),
    );
    const fig6 = {
      rows: Object.fromEntries(FIG6_ROWS.map((r) => [r.name, r.label])),
      columns: Object.fromEntries(fig6Columns().map((k) => [k.name, `${k.label} evolution`])),
    };
    const curves = this.roots().flatMap((root) => subcircuitCurves(root, labels, fig6));
    for (const conn of c ? [c] : [...this.conns].filter((x) => x.view === 'subcircuits')) {
      const title = 'Subcircuit progress: fsl_train loss of the clamped runs (Fig 5b / Fig 6)';
      conn.post({ type: 'subcircuits', data: { title, curves, layout: 'overlay' } });
      if (!curves.length) {
        conn.post({
          type: 'status',
          level: 'info',
          message:
            'No subcircuit runs yet: run "Induction Lab: Run Subcircuit Progress" or "Reproduce Paper Figure…" ' +
            '(fig5b, fig6).',
        });
      }
    }
  }

  /**
   * Subcircuit runs wrote metrics: resend the curves at most once a second (a throttle — a debounce
   * re-armed by every metrics line would never fire while the runs stream).
   */
  readonly subcircuitsChanged = throttle(() => this.sendSubcircuits(), 1000);

  /** The LLC view: the run's llc/ and dynamics/ caches (both sampling modes), or what to run when there are none. */
  private sendLlc(c: ViewConnection, runId: string): void {
    const r = this.run(runId);
    if (!r) return;
    const modes = readLlcData(r.dir);
    c.post({ type: 'llc', runId, modes });
    if (!modes.length) c.post({ type: 'status', level: 'info', message: NO_LLC_YET });
  }

  /** The LLC caches of `runId` changed (an `llc` or `dynamics` task wrote them): resend them to its LLC views. */
  refreshLlc(runId: string): void {
    for (const c of this.conns) if (c.view === 'llc' && c.state.runId === runId) this.sendLlc(c, runId);
  }

  /** The measures of `runId` changed on disk: its influence and edge views redraw. */
  refreshMeasures(runId: string): void {
    for (const c of this.conns) {
      if (c.state.runId !== runId) continue;
      if (c.view === 'influence') this.sendInfluence(c, runId);
      if (c.view === 'paths') this.sendPaths(c, runId);
    }
  }

  // ---- messages from views ----

  private onMessage = (c: ViewConnection, m: FromWebviewMessage): void => {
    switch (m.type) {
      case 'ready':
        // A restored view brings its saved step; a step chosen in this session wins.
        if (m.runId && m.step !== undefined) this.steps.adopt(m.runId, m.step);
        this.sendAll(c);
        return;
      case 'selectStep':
        this.selectStep(m.runId, m.sequences, c);
        return;
      case 'prefs':
        this.prefs = { ...this.prefs, ...m.prefs };
        return;
      case 'addRuns':
        void this.addCompareRuns(c);
        return;
      case 'removeRun':
        if (c.view === 'compare') {
          c.state.runIds = (c.state.runIds ?? []).filter((id) => id !== m.runId);
          this.sendAll(c);
        }
        return;
      case 'requestPatterns':
        this.sendPatterns(c, m);
        return;
      case 'requestInfluence':
        this.sendInfluence(c, m.runId, m.requestId);
        return;
      case 'computeOverTraining':
        void this.computeOverTraining(c, m.runId, m.measures);
        return;
      case 'openRun':
        this.setActiveRun(m.runId);
        void vscode.commands.executeCommand('inductionLab.dashboard.focus');
        return;
      case 'export':
        void this.exportFile(c, m);
        return;
    }
  };

  /**
   * Sets run `runId`'s selected step (undefined: the multi-run views' cursor) and tells every view but the
   * one that chose it: an echo reaching a slider that has moved on since would pull it back a step.
   */
  selectStep(runId: string | undefined, sequences: number | null, from?: ViewConnection): void {
    this.steps.select(runId, sequences);
    for (const x of this.conns) if (x !== from) x.post({ type: 'step', sequences, ...(runId ? { runId } : {}) });
  }

  /** Compare: a quick pick of the runs it does not show yet; the picked ones are added (and kept on reload). */
  private async addCompareRuns(c: ViewConnection): Promise<void> {
    if (c.view !== 'compare') return;
    const shown = new Set(c.state.runIds ?? []);
    const rest = this.refreshRuns().filter((r) => !shown.has(r.summary.id));
    if (!rest.length) {
      c.post({ type: 'status', level: 'info', message: 'Every run is already in this comparison.' });
      return;
    }
    const picks = await vscode.window.showQuickPick(
      rest.map((r) => ({
        label: r.summary.name,
        description: r.summary.status,
        detail: `${r.summary.preset ?? ''} · ${r.summary.id}`,
        id: r.summary.id,
      })),
      { canPickMany: true, title: 'Add which runs to the comparison?' },
    );
    if (!picks?.length) return;
    c.state.runIds = [...(c.state.runIds ?? []), ...picks.map((p) => p.id)];
    this.sendAll(c);
  }

  private readonly patternJobs = new Map<ViewConnection, PatternsJob>();
  /** The panels of the views that reveal an open panel of the same run instead of opening another (llc). */
  private readonly panels = new Map<ViewConnection, vscode.WebviewPanel>();

  /**
   * Reveals the open `view` panel of run `runId` (true), or returns false when there is none; `runId`
   * undefined matches the panel of a view over every run (subcircuits). `refresh` resends its data.
   */
  revealPanel(view: ViewName, runId: string | undefined, refresh = false): boolean {
    for (const [c, p] of this.panels)
      if (c.view === view && c.state.runId === runId) {
        p.reveal();
        if (refresh) this.sendAll(c);
        return true;
      }
    return false;
  }

  /**
   * Patterns at the checkpoint nearest the asked step: fsl_train #0 straight from the checkpoint's
   * summary file; anything else (another sequence, a typed one, an eval-set mean) from
   * `induction-lab patterns` in a child process. A newer request of the same view kills the older one.
   */
  private sendPatterns(c: ViewConnection, m: Extract<FromWebviewMessage, { type: 'requestPatterns' }>): void {
    const r = this.run(m.runId);
    if (!r) {
      c.post({ type: 'status', level: 'warning', message: `unknown run ${m.runId}` });
      return;
    }
    this.patternJobs.get(c)?.kill();
    this.patternJobs.delete(c);
    if (summaryAnswers(m)) {
      const p = attentionPatterns(m.runId, r.dir, m.sequences, m.mode);
      if (typeof p !== 'string') {
        c.post({ type: 'patterns', patterns: p, inReplyTo: m.requestId });
        return;
      }
      if (p === 'this run has no checkpoint yet') {
        c.post({ type: 'status', level: 'warning', message: p });
        return;
      }
    }
    const ck = nearestCheckpoint(r.dir, m.sequences);
    if (!ck) {
      c.post({ type: 'status', level: 'warning', message: 'this run has no checkpoint yet' });
      return;
    }
    const job = runPatternsChild(this.cli, patternsArgs(r.dir, ck.sequences, m));
    this.patternJobs.set(c, job);
    job.done
      .then(
        (p) => {
          const requested = m.sequences !== null && m.sequences !== p.sequences ? m.sequences : undefined;
          const patterns = { ...p, runId: m.runId, ...(requested !== undefined ? { requested } : {}) };
          c.post({ type: 'patterns', patterns, inReplyTo: m.requestId });
        },
        (e: Error) => {
          if (e.message === 'superseded') return;
          this.log.warn(`patterns of ${m.runId}: ${e.message}`);
          c.post({ type: 'status', level: 'error', message: `Could not compute the patterns: ${e.message}` });
        },
      )
      .finally(() => {
        if (this.patternJobs.get(c) === job) this.patternJobs.delete(c);
      });
  }

  private async exportFile(c: ViewConnection, m: Extract<FromWebviewMessage, { type: 'export' }>): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      defaultUri: folder ? vscode.Uri.joinPath(folder, path.basename(m.fileName)) : undefined,
      filters: { [m.format.toUpperCase()]: [m.format] },
    });
    if (!target) {
      c.post({ type: 'exportResult', inReplyTo: m.requestId, ok: false, error: 'cancelled' });
      return;
    }
    try {
      const bytes = m.format === 'png' ? Buffer.from(m.data, 'base64') : Buffer.from(m.data, 'utf8');
      await vscode.workspace.fs.writeFile(target, bytes);
      c.post({ type: 'exportResult', inReplyTo: m.requestId, ok: true, path: target.fsPath });
    } catch (e) {
      c.post({ type: 'exportResult', inReplyTo: m.requestId, ok: false, error: (e as Error).message });
    }
  }

  // ---- views and panels ----

  resolveWebviewView(view: vscode.WebviewView): void {
    const ds: vscode.Disposable[] = [];
    const conn = new ViewConnection('dashboard', view.webview, {}, this.extensionUri, this.onMessage, ds);
    this.conns.add(conn);
    view.onDidDispose(() => {
      this.conns.delete(conn);
      ds.forEach((d) => d.dispose());
    });
  }

  /**
   * Opens a panel; `sequences` (a checkpoint clicked in the tree) becomes the run's selected step, so
   * the panel — and every other view of that run — shows that checkpoint.
   */
  openPanel(view: Exclude<ViewName, 'dashboard'>, state: PanelIdentity & { sequences?: number }): void {
    if (state.runId && state.sequences !== undefined) this.selectStep(state.runId, state.sequences);
    // One panel per (view, run): opening it again reveals it, brought up to date (the step above reached it).
    if (state.runId && this.revealPanel(view, state.runId, true)) return;
    if (view === 'subcircuits' && this.revealPanel(view, undefined, true)) return;
    const panel = vscode.window.createWebviewPanel(`inductionLab.${view}`, TITLES[view], vscode.ViewColumn.Active, {
      enableScripts: true,
    });
    this.attachPanel(view, panel, state);
  }

  private attachPanel(view: ViewName, panel: vscode.WebviewPanel, state: PanelState): void {
    const r = state.runId ? this.run(state.runId) : undefined;
    panel.title = r ? `${TITLES[view]} — ${r.summary.name}` : TITLES[view];
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.svg');
    const ds: vscode.Disposable[] = [];
    const conn = new ViewConnection(view, panel.webview, state, this.extensionUri, this.onMessage, ds);
    this.conns.add(conn);
    this.panels.set(conn, panel);
    panel.onDidDispose(() => {
      this.panels.delete(conn);
      this.patternJobs.get(conn)?.kill();
      this.conns.delete(conn);
      ds.forEach((d) => d.dispose());
    });
    this.log.debug(`opened ${view} panel ${JSON.stringify(state)}`);
  }

  /** Number of open views of a kind (used by tests). */
  count(view: ViewName): number {
    return [...this.conns].filter((c) => c.view === view).length;
  }

  dispose(): void {
    this.subcircuitsChanged.cancel();
    for (const t of this.aggregateRefresh.values()) t.cancel();
    for (const j of this.patternJobs.values()) j.kill();
    this.disposables.forEach((d) => d.dispose());
  }
}
