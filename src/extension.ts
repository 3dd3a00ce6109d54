/**
 * Extension host entry: thin wiring of the runs tree, the run manager (training in forked children),
 * the webviews and the commands. The engine never runs here; TensorFlow.js never loads here.
 */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunsTreeProvider, runsRoots } from './extension/runsTree';
import type { RunNode, CheckpointNode } from './extension/runListing';
import { throttle } from './extension/timing';
import { isResumable } from './extension/runListing';
import { RunDir } from './engine/io/runStore';
import { RunManager, UNTRUSTED } from './extension/runManager';
import { LabViews } from './extension/webviews';
import { startRunFlow } from './extension/startRunFlow';
import { withStartSettings } from './extension/startFlowModel';
import { BACK, pickStep } from './extension/quickInput';
import { measureRows, overTrainingArgs } from './extension/measureTasks';
import { DEFAULT_MEASURES } from './engine/measures/names';
import { CheckpointHoverProvider, RUN_FILES_SELECTOR } from './extension/fileHover';
import { llcCommands } from './extension/llcCommands';
import type { ResumeMessage, StartMessage } from './shared/protocol';

export type { RunNode, CheckpointNode, RunsTreeNode } from './extension/runListing';

/** What `activate()` returns: used by the integration tests, not a public contract. */
export interface InductionLabApi {
  readonly runs: RunsTreeProvider;
  readonly manager: RunManager;
  readonly views: LabViews;
  /** Starts a run without the quick picks (tests, scripts): resolves with its run folder once started. */
  startRun(msg: Omit<StartMessage, 'type' | 'runsRoot'> & { runsRoot?: string }): Promise<string>;
}

function settings() {
  const c = vscode.workspace.getConfiguration('inductionLab');
  return {
    engine: c.get<string>('engine', 'auto'),
    backend: c.get<string>('backend', 'auto'),
    defaultPreset: c.get<string>('defaultPreset', 'demo'),
    evalEvery: c.get<number>('evalEvery', 0),
    tensorboard: c.get<boolean>('tensorboard', true),
    measures: c.get<string[]>('measuresOverTraining', []),
    subsample: c.get<number>('measureSubsample', 2000),
    measureWhileTraining: c.get<boolean>('measureWhileTraining', false),
  };
}

/** Adds the user's settings (engine, TF.js backend, eval cadence, TensorBoard events) unless the config sets them. */
function withSettings(msg: StartMessage): StartMessage {
  return { ...msg, config: withStartSettings(msg.config as Record<string, unknown> | undefined, settings()) };
}

export function activate(context: vscode.ExtensionContext): InductionLabApi {
  const log = vscode.window.createOutputChannel('Induction Lab', { log: true });
  const manager = new RunManager(context.extensionPath, log);
  const runs = new RunsTreeProvider(() => manager.liveness());
  const tree = vscode.window.createTreeView('inductionLab.runs', { treeDataProvider: runs, showCollapseAll: true });
  /** Shows a run in the tree (new runs sort first, but an expanded run above can push them out of view). */
  const reveal = async (dir: string) => {
    const node = await runs.nodeFor(dir);
    if (node)
      await Promise.resolve(tree.reveal(node, { select: true, focus: false, expand: false })).catch(() => undefined);
  };
  const views = new LabViews(context.extensionUri, runsRoots, log, manager);
  const root = (): string => {
    const r = runsRoots()[0];
    if (!r) throw new Error('Open a folder first: runs are saved in the workspace.');
    return r;
  };

  // Live metrics from our own children go straight to the views; runs started elsewhere (the CLI) show up
  // through the file watcher.
  manager.onMessage((run, m) => {
    if (m.type === 'started') {
      views.refreshRuns();
      views.setActiveRun(m.runId);
      runs.refresh();
      setTimeout(() => void reveal(m.runDir), 300);
      if (settings().measureWhileTraining) measureWhileTraining(m.runDir, run.name ?? m.runId);
    } else if (m.type === 'metrics' && run.runId) views.appendMetrics(run.runId, m.record);
    else if (m.type === 'checkpoint' || m.type === 'finished') {
      runs.refresh();
      views.refreshRuns();
    }
    // Once more a moment later: a refresh fired while the tree is still fetching can be lost.
    if (m.type === 'finished')
      setTimeout(() => {
        runs.refresh();
        views.refreshRuns();
      }, 1000);
    if (m.type === 'finished') {
      const name = pendingNames.get(m.runDir);
      if (name !== undefined) {
        pendingNames.delete(m.runDir);
        applyName(m.runDir, name);
      }
    }
  });
  const watcher = vscode.workspace.createFileSystemWatcher('**/{run.json,metrics.jsonl,*.safetensors}');
  const changed = new Set<string>();
  // Throttled, not debounced: a CLI run appends metrics continuously, which would starve a debounce.
  const flush = throttle(() => {
    runs.refresh();
    for (const dir of changed) if (!manager.runs.some((r) => r.runDir === dir)) views.runChanged(path.basename(dir));
    changed.clear();
  }, 500);
  const onFile = (u: vscode.Uri) => {
    const d = path.dirname(u.fsPath);
    changed.add(path.basename(d) === 'checkpoints' ? path.dirname(d) : d);
    flush();
  };
  watcher.onDidCreate(onFile);
  watcher.onDidChange(onFile);
  watcher.onDidDelete(onFile);

  const startRun = async (msg: StartMessage | ResumeMessage, title: string): Promise<string> => {
    const run = await manager.start(msg.type === 'start' ? withSettings(msg) : msg, title);
    return run.runDir!;
  };
  const pickRun = async (filter: (n: RunNode) => boolean, title: string): Promise<RunNode | undefined> => {
    const all = (await runs.allRuns()).filter(filter);
    if (!all.length) {
      void vscode.window.showInformationMessage(`Induction Lab: no run to ${title.toLowerCase()}.`);
      return undefined;
    }
    const p = await vscode.window.showQuickPick(
      all.map((n) => runPickItem(n)),
      { title, matchOnDescription: true },
    );
    return p?.node;
  };
  /** Renames wait while our child trains the run: the trainer rewrites run.json from memory. */
  const pendingNames = new Map<string, string>();
  const applyName = (dir: string, name: string) => {
    RunDir.open(dir).updateRunJson({ displayName: name.trim() || undefined });
    runs.refresh();
    views.refreshRuns();
  };
  const runIdOf = (n: RunNode) => path.basename(n.dir);
  /** A run node from a tree node, a run id (folder name, as the views know runs) or a run folder. */
  const runFrom = async (target: RunNode | string | undefined): Promise<RunNode | undefined> => {
    if (target === undefined || typeof target !== 'string') return target;
    const node = path.isAbsolute(target)
      ? await runs.nodeFor(target)
      : (await runs.allRuns()).find((n) => runIdOf(n) === target);
    if (!node) throw new Error(`no run "${target}" in this workspace`);
    return node;
  };
  /** Measures over training were (re)written: the views that read them reload. */
  const measuresChanged = (runId: string) => views.refreshMeasures(runId);
  /** Run folders with a `measure --follow` child of ours. */
  const followed = new Set<string>();
  /** Setting inductionLab.measureWhileTraining: a second child measures each checkpoint a run saves. */
  const measureWhileTraining = (dir: string, name: string) => {
    if (followed.has(dir)) return;
    const s = settings();
    let args: string[];
    try {
      args = overTrainingArgs(dir, {
        measures: s.measures.length ? s.measures : DEFAULT_MEASURES,
        subsample: s.subsample,
        follow: true,
      });
    } catch (e) {
      const why = (e as Error).message;
      void vscode.window.showWarningMessage(
        `Induction Lab: measure while training (setting inductionLab.measuresOverTraining): ${why}`,
      );
      return;
    }
    followed.add(dir);
    const runId = path.basename(dir);
    manager
      .runTask({
        title: `measuring ${name} while it trains`,
        args,
        outerTask: 'measure',
        cancelSignal: 'SIGTERM',
        onProgress: throttle(() => measuresChanged(runId), 2000),
      })
      .then(
        () => measuresChanged(runId),
        (e: Error) => {
          void vscode.window.showWarningMessage(`Induction Lab: measuring ${name} while it trains: ${e.message}`);
        },
      )
      .finally(() => followed.delete(dir));
  };
  /** The dashboard is a webview view: it can live in the side bar (default) or in the panel, full width. */
  const moveDashboard = async (container: string, inPanel: boolean) => {
    try {
      await vscode.commands.executeCommand('vscode.moveViews', {
        viewIds: ['inductionLab.dashboard'],
        destinationId: container,
      });
    } catch {
      // Older VS Code without vscode.moveViews: the interactive "Move View" picker.
      await vscode.commands.executeCommand('workbench.action.moveFocusedView');
    }
    await context.globalState.update('dashboardInPanel', inPanel);
    void vscode.commands.executeCommand('setContext', 'inductionLab.dashboardInPanel', inPanel);
    await vscode.commands.executeCommand('inductionLab.dashboard.focus');
  };
  void vscode.commands.executeCommand(
    'setContext',
    'inductionLab.dashboardInPanel',
    context.globalState.get('dashboardInPanel', false),
  );
  const guard =
    <A extends unknown[]>(f: (...a: A) => unknown) =>
    async (...a: A) => {
      try {
        return await f(...a);
      } catch (e) {
        void vscode.window.showErrorMessage(`Induction Lab: ${(e as Error).message}`);
        return undefined;
      }
    };

  const cmd = <A extends unknown[]>(id: string, f: (...a: A) => unknown) =>
    vscode.commands.registerCommand(id, guard(f));
  context.subscriptions.push(
    log,
    runs,
    tree,
    manager,
    views,
    watcher,
    vscode.window.registerWebviewViewProvider('inductionLab.dashboard', views),
    vscode.languages.registerHoverProvider(RUN_FILES_SELECTOR, new CheckpointHoverProvider()),
    vscode.workspace.onDidChangeWorkspaceFolders(() => {
      runs.refresh();
      views.refreshRuns();
    }),
    cmd('inductionLab.refreshRuns', () => {
      runs.refresh();
      views.refreshRuns();
    }),
    cmd('inductionLab.showEngineInfo', async () => {
      const version = String((context.extension.packageJSON as { version?: unknown }).version ?? 'unknown');
      const last = (await runs.allRuns()).find((r) => r.engine);
      const s = settings();
      // Not awaited: the promise of showInformationMessage settles only when the toast is dismissed.
      void vscode.window.showInformationMessage(
        `Induction Lab ${version} (extension host Node ${process.version}); engine: ${s.engine}` +
          `, TensorFlow.js backend (when TF.js trains): ${s.backend}${last ? `; the newest run (${last.fullName}) trained on the ${last.engine}` : ''}`,
      );
      return version;
    }),
    cmd('inductionLab.startClampedRun', async () => {
      if (!vscode.workspace.isTrusted) throw new Error(UNTRUSTED());
      const msg = await startRunFlow(root(), settings().defaultPreset);
      if (msg) {
        await startRun(msg, `training ${msg.preset}`);
        void vscode.commands.executeCommand('inductionLab.dashboard.focus');
      }
    }),
    cmd('inductionLab.startRunFromFile', async (uri?: vscode.Uri) => {
      const doc = uri ? await vscode.workspace.openTextDocument(uri) : vscode.window.activeTextEditor?.document;
      if (!doc) throw new Error('open a run config (JSON) in the editor first');
      let config: Record<string, unknown>;
      try {
        config = JSON.parse(doc.getText());
      } catch (e) {
        throw new Error(`${path.basename(doc.fileName)} is not valid JSON: ${(e as Error).message}`);
      }
      const preset = typeof config.preset === 'string' ? config.preset.replace(/@.*$/, '') : undefined;
      await startRun(
        { type: 'start', config: { ...config, preset: undefined }, preset, runsRoot: root() },
        `training ${path.basename(doc.fileName)}`,
      );
      void vscode.commands.executeCommand('inductionLab.dashboard.focus');
    }),
    cmd('inductionLab.stopRun', async () => {
      const active = manager.runs.filter((r) => !r.cancelled);
      if (!active.length) {
        void vscode.window.showInformationMessage('Induction Lab: no run is training.');
        return;
      }
      const p =
        active.length === 1
          ? { run: active[0] }
          : await vscode.window.showQuickPick(
              active.map((r) => ({ label: r.name ?? r.runId ?? r.key, run: r })),
              { title: 'Stop which run?' },
            );
      if (p) manager.stop(p.run);
    }),
    cmd('inductionLab.resumeRun', async (node?: RunNode | string) => {
      const n = typeof node === 'string' ? await runFrom(node) : (node ?? (await pickRun(isResumable, 'Resume run')));
      if (n) await startRun({ type: 'resume', runDir: n.dir }, 'resuming');
    }),
    cmd('inductionLab.duplicateRun', async (node?: RunNode) => {
      const n = node ?? (await pickRun(() => true, 'Duplicate run'));
      if (!n) return;
      const rj = RunDir.open(n.dir).readRunJson<{ config: Record<string, unknown> }>();
      const doc = await vscode.workspace.openTextDocument({
        language: 'json',
        content: JSON.stringify({ ...rj.config, name: `${rj.config.name}-copy` }, null, 2),
      });
      await vscode.window.showTextDocument(doc);
      void vscode.window.showInformationMessage(
        'Edit the config, then run "Induction Lab: Start Run from Config File".',
      );
    }),
    // `newName` (scripts, tests) skips the input box.
    cmd('inductionLab.renameRun', async (node?: RunNode | string, newName?: string) => {
      const n =
        typeof node === 'string' ? await runs.nodeFor(node) : (node ?? (await pickRun(() => true, 'Rename run')));
      if (!n) return;
      const name =
        newName ??
        (await vscode.window.showInputBox({
          title: `Rename ${n.fullName}`,
          value: n.name,
          prompt:
            'Shown in the tree, pickers and legends (stored in run.json "displayName"; the folder keeps its name). Empty: back to the default name.',
          validateInput: (v) => (v.length > 120 ? 'at most 120 characters' : /[\n\r]/.test(v) ? 'one line' : undefined),
        }));
      if (name === undefined) return;
      // A child still writing run.json (it has not reported "finished"): apply the name when it does.
      if (manager.runs.some((r) => r.runDir === n.dir && r.last?.type !== 'finished')) {
        pendingNames.set(n.dir, name);
        void vscode.window.showInformationMessage(
          `Induction Lab: "${name}" is applied when the run stops (it is training; its process owns run.json).`,
        );
        return;
      }
      if (n.status === 'running')
        throw new Error(`${n.fullName} is training in another process (e.g. the CLI); rename it when it stops`);
      applyName(n.dir, name);
    }),
    cmd('inductionLab.openReport', async (node?: RunNode) => {
      const n = node ?? (await pickRun((r) => fs.existsSync(path.join(r.dir, 'report.md')), 'Open report.md of'));
      if (!n) return;
      const file = path.join(n.dir, 'report.md');
      if (!fs.existsSync(file))
        throw new Error(`${n.fullName} has no report.md yet (it is written when the run completes)`);
      await vscode.commands
        .executeCommand('markdown.showPreview', vscode.Uri.file(file))
        .then(undefined, () => vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file)));
    }),
    cmd('inductionLab.revealRun', (node?: RunNode) => {
      if (node)
        return vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(path.join(node.dir, 'run.json')));
      return undefined;
    }),
    cmd('inductionLab.dashboardInPanel', () => moveDashboard('workbench.view.extension.inductionLabPanel', true)),
    cmd('inductionLab.dashboardInSideBar', () => moveDashboard('workbench.view.extension.inductionLab', false)),
    cmd('inductionLab.deleteRun', async (node?: RunNode) => {
      const n = node ?? (await pickRun((r) => r.status !== 'running', 'Delete run'));
      if (!n) return;
      if (manager.runs.some((r) => r.runDir === n.dir)) throw new Error(`${n.fullName} is training; stop it first`);
      const ok = await vscode.window.showWarningMessage(
        `Delete run "${n.fullName}" and all its checkpoints?`,
        { modal: true, detail: n.dir },
        'Delete',
      );
      if (ok !== 'Delete') return;
      await vscode.workspace.fs.delete(vscode.Uri.file(n.dir), { recursive: true, useTrash: false });
      runs.refresh();
      views.refreshRuns();
    }),
    cmd('inductionLab.openDashboard', (node?: RunNode | string) => {
      if (node) views.setActiveRun(path.basename(typeof node === 'string' ? node : node.dir));
      return vscode.commands.executeCommand('inductionLab.dashboard.focus');
    }),
    cmd('inductionLab.openAttention', (node?: RunNode | CheckpointNode) =>
      views.openPanel('attention', {
        runId: node ? runIdOf(node.kind === 'run' ? node : node.run) : views.activeRunId,
        sequences: node?.kind === 'checkpoint' ? node.sequences : undefined, // the checkpoint clicked in the tree
      }),
    ),
    cmd('inductionLab.openInfluence', async (node?: RunNode) => {
      // From the palette: ask which run (the active one is not necessarily the one meant).
      const n = node ?? (await pickRun(() => true, 'Show the influence matrix of'));
      if (n) views.openPanel('influence', { runId: runIdOf(n) });
    }),
    // The edge matrix over training (issue 18); a run without it is offered the computation (the measure
    // command's progress and cancel), and the open panel fills in as the aggregate is written.
    cmd('inductionLab.openPathPatching', async (target?: RunNode | string) => {
      const n = (await runFrom(target)) ?? (await pickRun(() => true, 'Show path patching over training of'));
      if (!n) return;
      const runId = runIdOf(n);
      views.openPanel('paths', { runId });
      if (views.hasPathPatching(runId) || n.status === 'created') return;
      const go = await vscode.window.showInformationMessage(
        `${n.fullName} has no path patching over training yet: compute it at every checkpoint?`,
        'Compute',
      );
      if (go === 'Compute')
        await vscode.commands.executeCommand('inductionLab.computeOverTraining', runId, {
          measures: ['path-patching'],
        });
    }),
    cmd('inductionLab.openSubcircuits', () => views.openPanel('subcircuits', {})),
    cmd('inductionLab.openCompare', async () => {
      // The views' run list, named as in the tree (unique names), newest first.
      const known = new Set(views.refreshRuns().map((r) => r.summary.id));
      const nodes = (await runs.allRuns()).filter((n) => known.has(runIdOf(n)));
      const picks = await vscode.window.showQuickPick(
        nodes.map((n) => ({ ...runPickItem(n), id: runIdOf(n) })),
        { canPickMany: true, title: 'Compare which runs?', matchOnDescription: true },
      );
      if (picks?.length) views.openPanel('compare', { runIds: picks.map((p) => p.id) });
    }),
    cmd('inductionLab.computeInfluence', async (node?: RunNode) => {
      const n = node ?? (await pickRun((r) => r.status !== 'running', 'Compute influence matrix'));
      if (!n) return;
      const sub = settings().subsample;
      const r = await manager.runTask({
        title: `influence matrix of ${n.fullName}`,
        args: [
          'measure',
          n.dir,
          '--what',
          'influence-matrix,composition',
          ...(sub > 0 ? ['--subsample', String(sub)] : []),
        ],
      });
      if (r.cancelled) return;
      views.refreshMeasures(runIdOf(n));
      views.openPanel('influence', { runId: runIdOf(n) });
    }),
    // From the palette, the tree, or a view with a run id: `measure RUN --checkpoints all` with both counters in
    // the notification. `opts` (views, tests) skips the measure picker. Resolves with what happened.
    cmd(
      'inductionLab.computeOverTraining',
      async (target?: RunNode | string, opts?: { measures?: string[]; subsample?: number }) => {
        const n =
          (await runFrom(target)) ??
          (await pickRun((r) => r.status !== 'created', 'Compute measures over training of'));
        if (!n) return undefined;
        const s = settings();
        let measures = opts?.measures;
        if (!measures) {
          const rows = measureRows(s.measures);
          const sub =
            s.subsample > 0
              ? `${s.subsample.toLocaleString('en-US')} sequences of the dense set`
              : 'the whole dense set';
          // A step of the start flow's kind (createQuickPick): the checked rows preselected, keyboard-operable.
          const picks = await pickStep({
            canSelectMany: true,
            matchOnDetail: true,
            rows,
            selected: rows.filter((r) => r.picked),
            title: `Measures over training of ${n.fullName}: every checkpoint, on ${sub}`,
            placeholder:
              'Enter: compute the checked measures (the setting inductionLab.measuresOverTraining preselects)',
          });
          if (!picks || picks === BACK || !picks.length) return undefined;
          measures = picks.map((p) => p.label);
        }
        const runId = runIdOf(n);
        const r = await manager.runTask({
          title: `measures over training of ${n.fullName}`,
          args: overTrainingArgs(n.dir, { measures, subsample: opts?.subsample ?? s.subsample }),
          slots: manager.maxConcurrent(),
          workersFlag: true,
          cancelSignal: 'SIGTERM',
          outerTask: 'measure',
          onProgress: throttle(() => measuresChanged(runId), 2000),
        });
        measuresChanged(runId);
        return { runId, cancelled: r.cancelled };
      },
    ),
    cmd('inductionLab.reproduceFigure', async () => {
      if (!vscode.workspace.isTrusted) throw new Error(UNTRUSTED());
      const figs = ['fig3a', 'fig3b', 'fig4a', 'fig4b', 'fig5a', 'fig5b', 'fig6', 'appfig11', 'appfig15'];
      const fig = await vscode.window.showQuickPick(figs, { title: 'Reproduce which figure of the paper?' });
      if (!fig) return;
      const scale = await vscode.window.showQuickPick(
        [
          { label: 'fast', detail: 'lr 1e-4, shorter runs (minutes)' },
          { label: 'paper', detail: "the paper's lr 1e-5 and run lengths (≈ 5–30 min per figure on two cores)" },
        ],
        { title: `${fig}: scale` },
      );
      if (!scale) return;
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      if (!folder) throw new Error('Open a folder first: figures are saved in the workspace.');
      const out = path.join(folder, 'figures');
      const runsDir = path.join(root(), 'reproduce');
      // The CLI in a child (its training runs in their own children); SIGINT stops them with checkpoints.
      const refresh = throttle(() => {
        runs.refresh();
        views.refreshRuns();
        views.sendSubcircuits();
      }, 2000);
      const r = await manager.runTask({
        title: `reproducing ${fig} (${scale.label})`,
        args: ['reproduce', fig, '--scale', scale.label, '--out', out, '--runs', runsDir],
        slots: manager.maxConcurrent(),
        workersFlag: true,
        cancelSignal: 'SIGINT',
        onProgress: refresh,
      });
      runs.refresh();
      views.refreshRuns();
      views.sendSubcircuits();
      if (r.cancelled) return;
      const svg = vscode.Uri.file(path.join(out, fig, 'figure.svg'));
      try {
        await vscode.workspace.fs.stat(svg);
      } catch {
        return;
      }
      await vscode.commands.executeCommand('vscode.open', svg);
    }),
    cmd('inductionLab.runSubcircuits', async () => {
      if (!vscode.workspace.isTrusted) throw new Error(UNTRUSTED());
      views.openPanel('subcircuits', {});
      // Throttled in the views (subcircuitsChanged) and here: metrics stream continuously.
      const refreshTree = throttle(() => runs.refresh(), 1000);
      const refresh = () => {
        views.subcircuitsChanged();
        refreshTree();
      };
      await manager.runTask({
        title: 'subcircuit progress (5 clamped runs)',
        args: ['subcircuits', '--scale', 'fast', '--out', path.join(root(), 'subcircuits')],
        slots: 2,
        workersFlag: true,
        cancelSignal: 'SIGINT',
        onProgress: refresh,
      });
      views.sendSubcircuits();
      runs.refresh();
    }),
    ...llcCommands({ cmd, manager, views, pickRun }),
  );
  return {
    runs,
    manager,
    views,
    startRun: (m) =>
      startRun(
        { type: 'start', ...m, runsRoot: m.runsRoot ?? root() } as StartMessage,
        `training ${m.preset ?? 'run'}`,
      ),
  };
}

/** A run as a quick-pick row: title, then clamps · #id, then status. */
function runPickItem(n: RunNode): vscode.QuickPickItem & { node: RunNode } {
  return {
    label: n.name,
    description: `${n.clampSummary} · #${n.shortId}`,
    detail: [n.status, n.group && `in ${n.group}/`].filter(Boolean).join(' · ') || undefined,
    node: n,
  };
}

export function deactivate(): void {
  // Everything (children included) is disposed through context.subscriptions.
}
