/**
 * Extension host entry: thin wiring of the runs tree, the run manager (training in forked children),
 * the webviews and the commands. The engine never runs here; TensorFlow.js never loads here.
 */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fork } from 'node:child_process';
import { RunsTreeProvider, RunNode, CheckpointNode, runsRoots, debounce } from './extension/runsTree';
import { RunManager } from './extension/runManager';
import { LabViews } from './extension/webviews';
import { startRunFlow } from './extension/startRunFlow';
import { CheckpointHoverProvider, RUN_FILES_SELECTOR } from './extension/fileHover';
import { runSubcircuits } from './engine/science/subcircuits';
import type { StartMessage } from './shared/protocol';

export type { RunNode, CheckpointNode, RunsTreeNode } from './extension/runsTree';
export { RUNS_DIR, checkpointTooltip, evalLossesAt } from './extension/runsTree';

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
    backend: c.get<string>('backend', 'auto'), defaultPreset: c.get<string>('defaultPreset', 'demo'), evalEvery: c.get<number>('evalEvery', 0),
  };
}

/** Adds the user's settings (backend, eval cadence) to a start message's config. */
function withSettings(msg: StartMessage): StartMessage {
  const s = settings();
  const cfg = (msg.config ?? {}) as { train?: Record<string, unknown> };
  const train: Record<string, unknown> = { ...(cfg.train ?? {}) };
  if (s.backend !== 'auto' && train.backend === undefined) train.backend = s.backend;
  if (s.evalEvery > 0 && train.evalEvery === undefined) train.evalEvery = s.evalEvery;
  return { ...msg, config: { ...cfg, ...(Object.keys(train).length ? { train } : {}) } };
}

export function activate(context: vscode.ExtensionContext): InductionLabApi {
  const log = vscode.window.createOutputChannel('Induction Lab', { log: true });
  const runs = new RunsTreeProvider();
  const tree = vscode.window.createTreeView('inductionLab.runs', { treeDataProvider: runs, showCollapseAll: true });
  const manager = new RunManager(context.extensionPath, log);
  const views = new LabViews(context.extensionUri, runsRoots, log);
  const root = (): string => {
    const r = runsRoots()[0];
    if (!r) throw new Error('Open a folder first: runs are saved in the workspace.');
    return r;
  };

  // Live metrics from our own children go straight to the views; runs started elsewhere (the CLI) show up
  // through the file watcher.
  manager.onMessage((run, m) => {
    if (m.type === 'started') { views.refreshRuns(); views.setActiveRun(m.runId); runs.refresh(); }
    else if (m.type === 'metrics' && run.runId) views.appendMetrics(run.runId, m.record);
    else if (m.type === 'checkpoint' || m.type === 'finished') { runs.refresh(); views.refreshRuns(); }
  });
  const watcher = vscode.workspace.createFileSystemWatcher('**/{run.json,metrics.jsonl,*.safetensors}');
  const changed = new Set<string>();
  const flush = debounce(() => {
    runs.refresh();
    for (const dir of changed) if (!manager.runs.some((r) => r.runDir === dir)) views.runChanged(path.basename(dir));
    changed.clear();
  }, 400);
  const onFile = (u: vscode.Uri) => {
    const d = path.dirname(u.fsPath);
    changed.add(path.basename(d) === 'checkpoints' ? path.dirname(d) : d);
    flush();
  };
  watcher.onDidCreate(onFile); watcher.onDidChange(onFile); watcher.onDidDelete(onFile);

  const startRun = async (msg: StartMessage, title: string): Promise<string> => {
    const run = await manager.start(withSettings(msg), title);
    return run.runDir!;
  };
  const pickRun = async (filter: (n: RunNode) => boolean, title: string): Promise<RunNode | undefined> => {
    const all = (await runs.getChildren()).filter((n): n is RunNode => n.kind === 'run').filter(filter);
    if (!all.length) { void vscode.window.showInformationMessage(`Induction Lab: no run to ${title.toLowerCase()}.`); return undefined; }
    const p = await vscode.window.showQuickPick(all.map((n) => ({ label: n.name, description: `${n.status ?? ''} ${n.preset ?? ''}`, node: n })), { title });
    return p?.node;
  };
  const runIdOf = (n: RunNode) => path.basename(n.dir);
  const guard = (f: (...a: any[]) => unknown) => async (...a: any[]) => {
    try { return await f(...a); } catch (e) { void vscode.window.showErrorMessage(`Induction Lab: ${(e as Error).message}`); return undefined; }
  };

  const cmd = (id: string, f: (...a: any[]) => unknown) => vscode.commands.registerCommand(id, guard(f));
  context.subscriptions.push(
    log, runs, tree, manager, views, watcher,
    vscode.window.registerWebviewViewProvider('inductionLab.dashboard', views),
    vscode.languages.registerHoverProvider(RUN_FILES_SELECTOR, new CheckpointHoverProvider()),
    vscode.workspace.onDidChangeWorkspaceFolders(() => { runs.refresh(); views.refreshRuns(); }),
    cmd('inductionLab.refreshRuns', () => { runs.refresh(); views.refreshRuns(); }),
    cmd('inductionLab.showEngineInfo', async () => {
      const version = String((context.extension.packageJSON as { version?: unknown }).version ?? 'unknown');
      const last = views.allRuns.find((r) => r.summary.backend);
      // Not awaited: the promise of showInformationMessage settles only when the toast is dismissed.
      void vscode.window.showInformationMessage(`Induction Lab ${version} (extension host Node ${process.version}); training backend preference: ${settings().backend}${last ? `; last run trained on ${last.summary.backend}` : ''}`);
      return version;
    }),
    cmd('inductionLab.startClampedRun', async () => {
      const msg = await startRunFlow(root(), settings().defaultPreset);
      if (msg) { await startRun(msg, `training ${msg.preset}`); void vscode.commands.executeCommand('inductionLab.dashboard.focus'); }
    }),
    cmd('inductionLab.startRunFromFile', async (uri?: vscode.Uri) => {
      const doc = uri ? await vscode.workspace.openTextDocument(uri) : vscode.window.activeTextEditor?.document;
      if (!doc) throw new Error('open a run config (JSON) in the editor first');
      let config: Record<string, unknown>;
      try { config = JSON.parse(doc.getText()); } catch (e) { throw new Error(`${path.basename(doc.fileName)} is not valid JSON: ${(e as Error).message}`); }
      const preset = typeof config.preset === 'string' ? config.preset.replace(/@.*$/, '') : undefined;
      await startRun({ type: 'start', config: { ...config, preset: undefined }, preset, runsRoot: root() }, `training ${path.basename(doc.fileName)}`);
    }),
    cmd('inductionLab.stopRun', async () => {
      const active = manager.runs.filter((r) => !r.cancelled);
      if (!active.length) { void vscode.window.showInformationMessage('Induction Lab: no run is training.'); return; }
      const p = active.length === 1 ? { run: active[0] } : await vscode.window.showQuickPick(active.map((r) => ({ label: r.runId ?? r.key, run: r })), { title: 'Stop which run?' });
      if (p) manager.stop(p.run);
    }),
    cmd('inductionLab.resumeRun', async (node?: RunNode) => {
      const n = node ?? await pickRun((r) => r.status === 'cancelled' || r.status === 'failed', 'Resume run');
      if (n) await startRun({ type: 'resume', runDir: n.dir } as unknown as StartMessage, `resuming ${n.name}`);
    }),
    cmd('inductionLab.duplicateRun', async (node?: RunNode) => {
      const n = node ?? await pickRun(() => true, 'Duplicate run');
      if (!n) return;
      const rj = JSON.parse(fs.readFileSync(path.join(n.dir, 'run.json'), 'utf8')) as { config: Record<string, unknown> };
      const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify({ ...rj.config, name: `${rj.config.name}-copy` }, null, 2) });
      await vscode.window.showTextDocument(doc);
      void vscode.window.showInformationMessage('Edit the config, then run "Induction Lab: Start Run from Config File".');
    }),
    cmd('inductionLab.deleteRun', async (node?: RunNode) => {
      const n = node ?? await pickRun((r) => r.status !== 'running', 'Delete run');
      if (!n) return;
      if (manager.runs.some((r) => r.runDir === n.dir)) throw new Error(`${n.name} is training; stop it first`);
      const ok = await vscode.window.showWarningMessage(`Delete run "${n.name}" and all its checkpoints?`, { modal: true, detail: n.dir }, 'Delete');
      if (ok !== 'Delete') return;
      await vscode.workspace.fs.delete(vscode.Uri.file(n.dir), { recursive: true, useTrash: false });
      runs.refresh(); views.refreshRuns();
    }),
    cmd('inductionLab.openDashboard', (node?: RunNode) => { if (node) views.setActiveRun(runIdOf(node)); return vscode.commands.executeCommand('inductionLab.dashboard.focus'); }),
    cmd('inductionLab.openAttention', (node?: RunNode | CheckpointNode) => views.openPanel('attention', {
      runId: node ? runIdOf(node.kind === 'run' ? node : node.run) : views.activeRunId,
      sequences: node?.kind === 'checkpoint' ? node.sequences : undefined, // the checkpoint clicked in the tree
    })),
    cmd('inductionLab.openInfluence', (node?: RunNode) => views.openPanel('influence', { runId: node ? runIdOf(node) : views.activeRunId })),
    cmd('inductionLab.openSubcircuits', () => views.openPanel('subcircuits', {})),
    cmd('inductionLab.openCompare', async () => {
      const all = views.refreshRuns();
      const picks = await vscode.window.showQuickPick(all.map((r) => ({ label: r.summary.name, description: r.summary.id, id: r.summary.id })), { canPickMany: true, title: 'Compare which runs?' });
      if (picks?.length) views.openPanel('compare', { runIds: picks.map((p) => p.id) });
    }),
    cmd('inductionLab.computeInfluence', async (node?: RunNode) => {
      const n = node ?? await pickRun((r) => r.status !== 'running', 'Compute influence matrix');
      if (!n) return;
      if (!vscode.workspace.isTrusted) throw new Error('measures run only in a trusted workspace');
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Induction Lab: influence matrix of ${n.name}`, cancellable: true }, (progress, token) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(path.join(context.extensionPath, 'out', 'cli.js'), ['measure', n.dir, '--what', 'influence-matrix,composition', '--subsample', '2000'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
          token.onCancellationRequested(() => child.kill('SIGTERM'));
          progress.report({ message: '264 ablation configurations on 2,000 training sequences…' });
          let err = '';
          child.stdout?.on('data', (d) => log.info(String(d).trimEnd()));
          child.stderr?.on('data', (d) => { err += d; log.warn(String(d).trimEnd()); });
          child.on('exit', (code) => {
            if (code === 0) { views.refreshInfluence(runIdOf(n)); resolve(); }
            else if (token.isCancellationRequested) resolve();
            else reject(new Error(err.trim().split('\n').pop() || `measure exited with code ${code}`));
          });
        }));
      views.openPanel('influence', { runId: runIdOf(n) });
    }),
    cmd('inductionLab.reproduceFigure', async () => {
      if (!vscode.workspace.isTrusted) throw new Error('training runs only in a trusted workspace');
      const figs = ['fig3a', 'fig3b', 'fig4a', 'fig4b', 'fig5a', 'fig5b', 'fig6', 'appfig11', 'appfig15'];
      const fig = await vscode.window.showQuickPick(figs, { title: 'Reproduce which figure of the paper?' });
      if (!fig) return;
      const scale = await vscode.window.showQuickPick([{ label: 'fast', detail: 'lr 1e-4, shorter runs (minutes)' }, { label: 'paper', detail: "the paper's lr 1e-5 and run lengths (≈ 5–30 min per figure on two cores)" }], { title: `${fig}: scale` });
      if (!scale) return;
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      if (!folder) throw new Error('Open a folder first: figures are saved in the workspace.');
      const out = path.join(folder, 'figures');
      // The CLI in a child process: training runs in its own children, measures never load TensorFlow.js here.
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Induction Lab: reproducing ${fig} (${scale.label})`, cancellable: true }, (progress, token) =>
        new Promise<void>((resolve, reject) => {
          const child = fork(path.join(context.extensionPath, 'out', 'cli.js'), ['reproduce', fig, '--scale', scale.label, '--out', out, '--runs', path.join(root(), 'reproduce')], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
          token.onCancellationRequested(() => child.kill('SIGINT'));
          let err = '';
          child.stdout?.on('data', (d) => log.info(String(d).trimEnd()));
          child.stderr?.on('data', (d) => {
            const text = String(d);
            err = (err + text).slice(-2000);
            log.info(text.trimEnd());
            const last = text.trim().split('\n').pop();
            if (last) progress.report({ message: last.slice(0, 120) });
          });
          child.on('exit', (code) => {
            if (code === 0) resolve();
            else if (token.isCancellationRequested) resolve();
            else reject(new Error(err.trim().split('\n').pop() || `reproduce exited with code ${code}`));
          });
        }));
      const svg = vscode.Uri.file(path.join(out, fig, 'figure.svg'));
      try { await vscode.workspace.fs.stat(svg); } catch { return; }
      await vscode.commands.executeCommand('vscode.open', svg);
      runs.refresh(); views.refreshRuns(); views.sendSubcircuits();
    }),
    cmd('inductionLab.runSubcircuits', async () => {
      if (!vscode.workspace.isTrusted) throw new Error('training runs only in a trusted workspace');
      const rootDir = path.join(root(), 'subcircuits');
      views.openPanel('subcircuits', {});
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Induction Lab: subcircuit progress (5 clamped runs)', cancellable: true }, async (progress, token) => {
        const done = new Set<string>();
        const refresh = () => views.subcircuitsChanged(); // throttled: curves update while the runs stream
        const { runs: res } = await runSubcircuits({
          scale: 'fast', root: rootDir, shouldStop: () => token.isCancellationRequested,
          onMessage: (job, m) => {
            if (m.type === 'metrics') refresh();
            if (m.type === 'finished') { done.add(job.key); progress.report({ increment: 20, message: `${done.size}/5 runs done` }); }
          },
        });
        views.sendSubcircuits();
        const failed = res.filter((r) => r.status === 'failed');
        if (failed.length) throw new Error(`${failed.length} subcircuit run(s) failed: ${failed.map((f) => f.error).join('; ')}`);
      });
    }),
  );
  return {
    runs, manager, views,
    startRun: (m) => startRun({ type: 'start', ...m, runsRoot: m.runsRoot ?? root() } as StartMessage, `training ${m.preset ?? 'run'}`),
  };
}

export function deactivate(): void {
  // Everything (children included) is disposed through context.subscriptions.
}
