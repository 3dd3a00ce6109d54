/**
 * The runs tree of the side panel: runs (status, preset, clamps, backend) → checkpoints. Hovering a
 * checkpoint shows its heads (a thumbnail of every attention pattern, head scores, eval losses) from the
 * summary saved with it; older checkpoints without a summary fall back to the losses in metrics.jsonl.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { readSummary, checkpointMarkdown } from './checkpointHover';
import { describeClamp } from '../engine/clamps/spec';
import { RunDir } from '../engine/io/runStore';
import type { ThemeKind } from './thumbnail';
import {
  checkpointChildren,
  checkpointLabel,
  listCheckpoints,
  listGroup,
  listRoot,
  ListOptions,
  rangeLabel,
  readRunNode,
  sortRuns,
  RunNode,
  GroupNode,
  CheckpointNode,
  CheckpointRangeNode,
  RunsTreeNode,
} from './runListing';

/** The editor theme's kind, for hover images (they cannot read CSS variables). */
export function themeKind(): ThemeKind {
  switch (vscode.window.activeColorTheme.kind) {
    case vscode.ColorThemeKind.Light:
      return 'light';
    case vscode.ColorThemeKind.HighContrast:
      return 'hc-dark';
    case vscode.ColorThemeKind.HighContrastLight:
      return 'hc-light';
    default:
      return 'dark';
  }
}

/** Where runs live, relative to a workspace folder. */
const RUNS_DIR = path.join('.induction-lab', 'runs');

/** The runs roots of the open workspace folders (setting inductionLab.runsFolder, relative to each folder). */
export function runsRoots(): string[] {
  const rel = vscode.workspace.getConfiguration('inductionLab').get<string>('runsFolder') || RUNS_DIR;
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === 'file')
    .map((f) => path.resolve(f.uri.fsPath, rel));
}

/** What the tree needs from the run manager to tell a live run from an interrupted one. */
export type LivenessSource = () => ListOptions;

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeNode> {
  private readonly changed = new vscode.EventEmitter<RunsTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  /** The last node handed out per run folder, so reveal() finds the object the tree knows. */
  private readonly known = new Map<string, RunNode>();

  /**
   * VS Code keeps a resolved tooltip until the tree refreshes, and a checkpoint's hover image is drawn in the
   * theme's ink (themeKind): without a refresh, a hover first opened in a dark theme stays light grey in a light one.
   */
  private readonly themeChanged = vscode.window.onDidChangeActiveColorTheme(() => this.refresh());

  constructor(private readonly liveness: LivenessSource = () => ({})) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  dispose(): void {
    this.themeChanged.dispose();
    this.changed.dispose();
  }

  private remember<T extends RunNode>(runs: T[]): T[] {
    for (const r of runs) this.known.set(r.dir, r);
    return runs;
  }

  /** The node of a run folder (read fresh if the tree has not listed it yet). */
  async nodeFor(dir: string): Promise<RunNode | undefined> {
    const root = runsRoots().find((r) => dir.startsWith(r + path.sep));
    if (!root) return undefined;
    const rel = path.relative(root, dir).split(path.sep);
    const group = rel.length === 2 ? rel[0] : undefined;
    const fresh = readRunNode(dir, this.liveness(), group);
    if (fresh) this.known.set(dir, fresh);
    return fresh;
  }

  /** Every run, grouped ones included (run pickers). */
  async allRuns(): Promise<RunNode[]> {
    const out: RunNode[] = [];
    for (const root of runsRoots()) {
      const { runs, groups } = listRoot(root, this.liveness());
      out.push(...runs);
      for (const g of groups) out.push(...listGroup(g.dir, this.liveness()));
    }
    return this.remember(out);
  }

  async getChildren(element?: RunsTreeNode): Promise<RunsTreeNode[]> {
    if (!element) {
      const runs: RunNode[] = [],
        groups: GroupNode[] = [];
      for (const root of runsRoots()) {
        const r = listRoot(root, this.liveness());
        runs.push(...r.runs);
        groups.push(...r.groups);
      }
      return [...this.remember(sortRuns(runs)), ...groups];
    }
    if (element.kind === 'group') return this.remember(listGroup(element.dir, this.liveness()));
    if (element.kind === 'run') return checkpointChildren(element, listCheckpoints(element));
    if (element.kind === 'checkpoints') return element.checkpoints;
    return [];
  }

  async getParent(node: RunsTreeNode): Promise<RunsTreeNode | undefined> {
    if (node.kind === 'group') return undefined;
    if (node.kind === 'run') {
      if (!node.group) return undefined;
      return { kind: 'group', dir: path.dirname(node.dir), name: node.group, count: 0 };
    }
    if (node.kind === 'checkpoints') return node.run;
    const siblings = checkpointChildren(node.run, listCheckpoints(node.run));
    return (
      siblings.find(
        (s): s is CheckpointRangeNode => s.kind === 'checkpoints' && s.checkpoints.some((c) => c.file === node.file),
      ) ?? node.run
    );
  }

  getTreeItem(node: RunsTreeNode): vscode.TreeItem {
    if (node.kind === 'run') return runItem(node);
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `group:${node.dir}`;
      item.description = `${node.count} run${node.count === 1 ? '' : 's'}`;
      item.contextValue = 'group';
      item.iconPath = new vscode.ThemeIcon('folder-library');
      item.tooltip = `${node.dir}\n\nRuns made by ${node.name === 'subcircuits' ? 'Run Subcircuit Progress' : node.name === 'reproduce' ? 'Reproduce Paper Figure' : 'a sweep'}.`;
      return item;
    }
    if (node.kind === 'checkpoints') {
      const item = new vscode.TreeItem(rangeLabel(node.checkpoints), vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `range:${node.run.dir}:${node.checkpoints[0].sequences}`;
      item.description = `${node.checkpoints.length} checkpoints`;
      item.contextValue = 'checkpointRange';
      item.iconPath = new vscode.ThemeIcon('history');
      return item;
    }
    const item = new vscode.TreeItem(checkpointLabel(node.sequences), vscode.TreeItemCollapsibleState.None);
    item.id = `checkpoint:${node.file}`;
    item.contextValue = 'checkpoint';
    item.iconPath = new vscode.ThemeIcon('save');
    // The tooltip is left unset so VS Code asks resolveTreeItem for it on hover.
    return item;
  }

  async resolveTreeItem(item: vscode.TreeItem, node: RunsTreeNode): Promise<vscode.TreeItem> {
    if (node.kind === 'checkpoint') item.tooltip = await checkpointTooltip(node);
    return item;
  }
}

const STATUS_ICON: Record<string, string> = {
  running: 'sync~spin',
  failed: 'error',
  cancelled: 'debug-pause',
  interrupted: 'warning',
  completed: 'pass',
  created: 'circle-outline',
};

function runItem(node: RunNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `run:${node.dir}`;
  item.description = `${node.clampSummary} · #${node.shortId}${node.status ? ` · ${node.status}` : ''}`;
  item.contextValue = `run.${node.status ?? 'unknown'}`;
  item.iconPath = new vscode.ThemeIcon(STATUS_ICON[node.status ?? ''] ?? 'beaker');
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escapeMd(node.fullName)}**\n\n`);
  md.appendMarkdown(
    `status: ${node.status ?? 'unknown'}${node.statusNote ? ` (${escapeMd(node.statusNote)})` : ''}  \n`,
  );
  if (node.sequences !== undefined) {
    md.appendMarkdown(
      `sequences: ${node.sequences.toLocaleString('en-US')}${node.totalSequences ? ` / ${node.totalSequences.toLocaleString('en-US')}` : ''}  \n`,
    );
  }
  if (node.preset) md.appendMarkdown(`preset \`${node.preset}\`  \n`);
  if (node.engine) md.appendMarkdown(`${escapeMd(node.engine)}  \n`);
  md.appendMarkdown(`folder \`${path.basename(node.dir)}\`\n\n`);
  if (node.clamps?.length) {
    md.appendMarkdown('clamps:\n\n');
    for (const c of node.clamps) md.appendMarkdown(`- ${escapeMd(describeClamp(c))}\n`);
  } else md.appendMarkdown('clamps: none');
  item.tooltip = md;
  item.resourceUri = vscode.Uri.file(node.dir);
  return item;
}

/** Run name, sequences, and the eval losses logged at exactly those sequences (metrics.jsonl), if any. */
async function checkpointTooltip(node: CheckpointNode): Promise<vscode.MarkdownString> {
  const summary = readSummary(node.file);
  if (summary)
    return new vscode.MarkdownString(
      checkpointMarkdown(node.run.fullName, summary, { clamps: node.run.clamps, theme: themeKind() }),
      true,
    );
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escapeMd(node.run.fullName)}** — checkpoint\n\n`);
  md.appendMarkdown(`Sequences seen: ${node.sequences.toLocaleString('en-US')}\n\n`);
  const losses = evalLossesAt(node.run.dir, node.sequences);
  if (losses.length === 0) {
    md.appendMarkdown('_No eval metrics at this checkpoint._');
  } else {
    md.appendMarkdown('| eval set | loss |\n|---|---:|\n');
    for (const [name, loss] of losses) md.appendMarkdown(`| ${escapeMd(name)} | ${loss.toFixed(4)} |\n`);
  }
  return md;
}

/**
 * Eval losses logged at exactly `sequences` in the run's metrics.jsonl (read by io/runStore), from the
 * `eval` object (`{ eval: { fsl_train: { loss } } }` or `{ eval: { fsl_train: 0.7 } }`) and top-level
 * `*loss*` fields; [] when there is no such row or the file cannot be read.
 */
function evalLossesAt(runDir: string, sequences: number): Array<[string, number]> {
  let rows: Array<Record<string, unknown>>;
  try {
    rows = RunDir.open(runDir).readMetrics<Record<string, unknown>>();
  } catch {
    return [];
  }
  const rec = rows.find((r) => r && r.sequences === sequences);
  if (!rec) return [];
  const out: Array<[string, number]> = [];
  const evals = rec.eval;
  if (evals && typeof evals === 'object') {
    for (const [name, v] of Object.entries(evals as Record<string, unknown>)) {
      const loss = typeof v === 'number' ? v : (v as { loss?: unknown } | null)?.loss;
      if (typeof loss === 'number') out.push([name, loss]);
    }
  }
  for (const [key, v] of Object.entries(rec)) if (/loss/i.test(key) && typeof v === 'number') out.push([key, v]);
  return out;
}

function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
