/**
 * The runs tree of the side panel: runs (status, preset, clamps, backend) → checkpoints. Hovering a
 * checkpoint shows its heads (a thumbnail of every attention pattern, head scores, eval losses) from the
 * summary saved with it; older checkpoints without a summary fall back to the losses in metrics.jsonl.
 */
import * as vscode from 'vscode';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readSummary, checkpointMarkdown } from './checkpointHover';
import { describeClamp, ClampSpec } from '../engine/clamps/spec';
import { liveRunStatus } from '../engine/io/runStore';

/** Where runs live, relative to a workspace folder. */
export const RUNS_DIR = path.join('.induction-lab', 'runs');

/** The runs roots of the open workspace folders (setting inductionLab.runsFolder, relative to each folder). */
export function runsRoots(): string[] {
  const rel = vscode.workspace.getConfiguration('inductionLab').get<string>('runsFolder') || RUNS_DIR;
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => path.resolve(f.uri.fsPath, rel));
}

export interface RunNode {
  kind: 'run';
  /** Absolute path of the run folder. */
  dir: string;
  /** run.json `name`, else the folder name. */
  name: string;
  /** run.json `status`, if any. */
  status?: string;
  preset?: string;
  backend?: string;
  clamps?: ClampSpec[];
}

export interface CheckpointNode {
  kind: 'checkpoint';
  run: RunNode;
  /** N of `checkpoints/seq-<N>.safetensors`: sequences seen. */
  sequences: number;
  file: string;
}

export type RunsTreeNode = RunNode | CheckpointNode;

/** What `activate()` returns: used by the integration tests, not a public contract. */
export interface InductionLabApi {
  readonly runs: RunsTreeProvider;
}

const CHECKPOINT_RE = /^seq-(\d+)\.safetensors$/;

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeNode> {
  private readonly changed = new vscode.EventEmitter<RunsTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  refresh(): void {
    this.changed.fire(undefined);
  }

  dispose(): void {
    this.changed.dispose();
  }

  async getChildren(element?: RunsTreeNode): Promise<RunsTreeNode[]> {
    if (!element) return findRuns();
    if (element.kind === 'run') return findCheckpoints(element);
    return [];
  }

  getTreeItem(node: RunsTreeNode): vscode.TreeItem {
    if (node.kind === 'run') {
      const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `run:${node.dir}`;
      item.description = node.status;
      item.contextValue = `run.${node.status ?? 'unknown'}`;
      item.iconPath = new vscode.ThemeIcon(node.status === 'running' ? 'sync~spin' : node.status === 'failed' ? 'error' : node.status === 'cancelled' ? 'debug-pause' : 'beaker');
      const md = new vscode.MarkdownString(undefined, true);
      md.appendMarkdown(`**${escapeMd(node.name)}** · ${node.status ?? 'unknown'}\n\n`);
      if (node.preset) md.appendMarkdown(`preset \`${node.preset}\`  \n`);
      if (node.backend) md.appendMarkdown(`backend ${node.backend}  \n`);
      md.appendMarkdown(`clamps: ${node.clamps?.length ? node.clamps.map((c) => escapeMd(describeClamp(c))).join('; ') : 'none'}`);
      item.tooltip = md;
      item.resourceUri = vscode.Uri.file(node.dir);
      return item;
    }
    const item = new vscode.TreeItem(`seq ${node.sequences}`, vscode.TreeItemCollapsibleState.None);
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

async function findRuns(): Promise<RunNode[]> {
  const runs: RunNode[] = [];
  for (const root of runsRoots()) {
    for (const entry of await readDirSafe(root)) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(root, entry.name);
      const meta = await readJson(path.join(dir, 'run.json'));
      if (meta === undefined) continue;
      runs.push({
        kind: 'run',
        dir,
        name: typeof meta.name === 'string' && meta.name ? meta.name : entry.name,
        status: typeof meta.status === 'string' ? liveRunStatus(dir, meta).status : undefined, // 'interrupted': writer gone
        preset: typeof meta.preset === 'string' ? meta.preset : undefined,
        backend: typeof meta.backend === 'string' ? meta.backend : undefined,
        clamps: Array.isArray((meta.config as { clamps?: unknown } | undefined)?.clamps) ? (meta.config as { clamps: ClampSpec[] }).clamps : undefined,
      });
    }
  }
  return runs.sort((a, b) => a.name.localeCompare(b.name));
}

async function findCheckpoints(run: RunNode): Promise<CheckpointNode[]> {
  const dir = path.join(run.dir, 'checkpoints');
  const nodes: CheckpointNode[] = [];
  for (const entry of await readDirSafe(dir)) {
    const m = CHECKPOINT_RE.exec(entry.name);
    if (m && entry.isFile()) nodes.push({ kind: 'checkpoint', run, sequences: Number(m[1]), file: path.join(dir, entry.name) });
  }
  return nodes.sort((a, b) => a.sequences - b.sequences);
}

/** Run name, sequences, and the eval losses logged at exactly those sequences (metrics.jsonl), if any. */
export async function checkpointTooltip(node: CheckpointNode): Promise<vscode.MarkdownString> {
  const summary = readSummary(node.file);
  if (summary) return new vscode.MarkdownString(checkpointMarkdown(node.run.name, summary), true);
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${escapeMd(node.run.name)}** — checkpoint\n\n`);
  md.appendMarkdown(`Sequences seen: ${node.sequences.toLocaleString('en-US')}\n\n`);
  const losses = await evalLossesAt(path.join(node.run.dir, 'metrics.jsonl'), node.sequences);
  if (losses.length === 0) {
    md.appendMarkdown('_No eval metrics at this checkpoint._');
  } else {
    md.appendMarkdown('| eval set | loss |\n|---|---:|\n');
    for (const [name, loss] of losses) md.appendMarkdown(`| ${escapeMd(name)} | ${loss.toFixed(4)} |\n`);
  }
  return md;
}

/**
 * Eval losses of the metrics.jsonl line whose `sequences` equals `sequences`. Accepts the numbers as
 * top-level `*loss*` fields or inside an `eval` object (`{ eval: { fsl_train: { loss } } }` or
 * `{ eval: { fsl_train: 0.7 } }`).
 */
export async function evalLossesAt(file: string, sequences: number): Promise<Array<[string, number]>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return [];
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (rec.sequences !== sequences) continue;
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
  return [];
}

async function readDirSafe(dir: string) {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return undefined;
  }
}

export function escapeMd(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}


export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
