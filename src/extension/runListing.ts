/**
 * What the runs tree lists (no vscode import: unit-tested), read through io/runStore, the extension's one
 * reader of run folders, in its one order (newest first): runs with their
 * unique names, status (a run whose writer is gone — its lock missing or stale, or its child of this window
 * died — is shown as interrupted), engine label and clamps; folders of runs without a run.json of their own
 * (subcircuits/, reproduce/) as groups; checkpoints, in ranges when there are many.
 */
import * as path from 'node:path';
import { engineLabel } from '../shared/engineLabel';
import { runName } from '../shared/runName';
import type { ClampSpec } from '../engine/clamps/spec';
import { CheckpointRef, compareNewestFirst, liveRunStatus, listRuns, RunDir, RunEntry } from '../engine/io/runStore';

export interface RunNode {
  kind: 'run';
  /** Absolute path of the run folder. */
  dir: string;
  /** The run's title: run.json `displayName` (Rename), else the preset, else `name`, else the folder. */
  name: string;
  /** `title · clamps · #id`: unique, used in pickers. */
  fullName: string;
  /** Compact clamps ("only L2H3 · IH L2H3") and the short id. */
  clampSummary: string;
  shortId: string;
  /** run.json `status`, or "interrupted" (see liveStatus). */
  status?: string;
  /** Why the status was derived, when it was (shown in the tooltip). */
  statusNote?: string;
  preset?: string;
  /** engineLabel() of the run's engine fields. */
  engine?: string;
  clamps?: ClampSpec[];
  sequences?: number;
  totalSequences?: number;
  created?: string;
  /** The group folder (e.g. "subcircuits") when the run sits in one. */
  group?: string;
}

export interface GroupNode {
  kind: 'group';
  dir: string;
  name: string;
  count: number;
}

export interface CheckpointNode {
  kind: 'checkpoint';
  run: RunNode;
  /** N of `checkpoints/seq-<N>.safetensors`: sequences seen. */
  sequences: number;
  file: string;
}

export interface CheckpointRangeNode {
  kind: 'checkpoints';
  run: RunNode;
  checkpoints: CheckpointNode[];
}

export type RunsTreeNode = RunNode | GroupNode | CheckpointNode | CheckpointRangeNode;

/** Above this many checkpoints a run lists them in ranges of CHECKPOINT_RANGE. */
export const CHECKPOINT_GROUP_ABOVE = 20;
export const CHECKPOINT_RANGE = 10;
/** Without a readable lock: a `running` run nobody here trains that wrote nothing for this long is interrupted. */
export const STALE_MS = 5 * 60_000;

/** "seq 20,000". */
export function checkpointLabel(sequences: number): string {
  return `seq ${sequences.toLocaleString('en-US')}`;
}

export function rangeLabel(cks: CheckpointNode[]): string {
  const a = cks[0].sequences.toLocaleString('en-US'),
    b = cks[cks.length - 1].sequences.toLocaleString('en-US');
  return `seq ${a} – ${b}`;
}

/** Checkpoints as they are listed under a run: flat up to CHECKPOINT_GROUP_ABOVE, else in ranges. */
export function checkpointChildren(run: RunNode, cks: CheckpointNode[]): Array<CheckpointNode | CheckpointRangeNode> {
  if (cks.length <= CHECKPOINT_GROUP_ABOVE) return cks;
  const out: CheckpointRangeNode[] = [];
  for (let i = 0; i < cks.length; i += CHECKPOINT_RANGE)
    out.push({ kind: 'checkpoints', run, checkpoints: cks.slice(i, i + CHECKPOINT_RANGE) });
  return out;
}

export interface Liveness {
  status?: string;
  note?: string;
}

/** Statuses Resume offers (the tree's inline Resume: package.json `run\.(cancelled|failed|interrupted)`). */
export const RESUMABLE = ['cancelled', 'failed', 'interrupted'] as const;
export const isResumable = (r: { status?: string }): boolean =>
  (RESUMABLE as readonly string[]).includes(r.status ?? '');

/**
 * The status to show. `owned`: a child of this window trains it now; `died`: a child of this window trained
 * it and exited without finishing it; `lastWrite`: newest mtime of run.json / metrics.jsonl (ms).
 */
export function liveStatus(
  status: string | undefined,
  o: { owned: boolean; died: boolean; lastWrite: number; now: number; lock?: { status: string; note: string } },
): Liveness {
  if (o.owned) return { status };
  if (o.died && (status === 'running' || status === 'created'))
    return { status: 'interrupted', note: 'its training process exited without finishing the run' };
  // The run lock (io/runLock, liveRunStatus): a held lock means a live writer, a missing or stale one a
  // killed run — whatever run.json says.
  if (o.lock && (o.lock.status === 'running' || o.lock.status === 'interrupted'))
    return { status: o.lock.status, note: o.lock.note };
  if (status !== 'running') return { status };
  const idle = o.now - o.lastWrite;
  if (idle > STALE_MS) {
    return {
      status: 'interrupted',
      note: `run.json says running, but no process of this window trains it and nothing was written for ${Math.round(idle / 60_000)} min`,
    };
  }
  return { status: 'running', note: 'training outside this window (e.g. the CLI)' };
}

export interface ListOptions {
  /** Run folders a child of this window trains now. */
  owned?: ReadonlySet<string>;
  /** Run folders whose child of this window exited without finishing. */
  died?: ReadonlySet<string>;
  now?: number;
}

/** A listed run's node (run.json already read by io/runStore). */
export function runNode(entry: RunEntry, o: ListOptions = {}): RunNode {
  const { path: dir, id, group } = entry;
  const meta = (entry.runJson && typeof entry.runJson === 'object' ? entry.runJson : {}) as Record<string, unknown>;
  const config = (meta.config ?? {}) as {
    clamps?: unknown;
    model?: { numHeads?: number };
    train?: { sequences?: unknown };
  };
  const clamps = Array.isArray(config.clamps) ? (config.clamps as ClampSpec[]) : undefined;
  const n = runName({
    id,
    displayName: meta.displayName,
    name: meta.name,
    preset: meta.preset,
    clamps,
    numHeads: config.model?.numHeads,
  });
  const status = typeof meta.status === 'string' ? meta.status : undefined;
  const lock = liveRunStatus(dir, meta);
  let lastWrite = 0;
  try {
    lastWrite = RunDir.open(dir).lastWriteMs();
  } catch {
    /* deleted while listing */
  }
  const live = liveStatus(status, {
    owned: o.owned?.has(dir) ?? false,
    died: o.died?.has(dir) ?? false,
    lastWrite,
    now: o.now ?? Date.now(),
    lock: lock.status === 'unknown' ? undefined : lock,
  });
  const hasEngine = meta.engine !== undefined || meta.backend !== undefined;
  return {
    kind: 'run',
    dir,
    name: n.title,
    fullName: n.full,
    clampSummary: n.clamps,
    shortId: n.shortId,
    status: live.status,
    statusNote: live.note,
    preset: typeof meta.preset === 'string' ? meta.preset : undefined,
    engine: hasEngine ? engineLabel(meta) : undefined,
    clamps,
    sequences: typeof meta.sequences === 'number' ? meta.sequences : undefined,
    totalSequences: typeof config.train?.sequences === 'number' ? config.train.sequences : undefined,
    created: typeof meta.created === 'string' ? meta.created : undefined,
    group,
  };
}

/** A run folder's node, or undefined when it has no readable run.json. */
export function readRunNode(dir: string, o: ListOptions = {}, group?: string): RunNode | undefined {
  let runJson: unknown;
  try {
    runJson = RunDir.open(dir).readRunJson();
  } catch {
    return undefined;
  }
  return runNode({ id: path.basename(dir), path: dir, runJson, group }, o);
}

/** Newest first: the one order of run lists (io/runStore compareNewestFirst). */
export function sortRuns(runs: RunNode[]): RunNode[] {
  const key = (n: RunNode) => ({ id: path.basename(n.dir), created: n.created });
  return [...runs].sort((a, b) => compareNewestFirst(key(a), key(b)));
}

/** The runs directly in `root`, and the folders of runs in it (groups), each sorted. */
export function listRoot(root: string, o: ListOptions = {}): { runs: RunNode[]; groups: GroupNode[] } {
  const runs: RunNode[] = [];
  const counts = new Map<string, number>();
  for (const e of listRuns(root, { groups: true })) {
    if (e.group === undefined) runs.push(runNode(e, o));
    else counts.set(e.group, (counts.get(e.group) ?? 0) + 1);
  }
  const groups = [...counts].map(([name, count]): GroupNode => ({
    kind: 'group',
    dir: path.join(root, name),
    name,
    count,
  }));
  return { runs: sortRuns(runs), groups: groups.sort((a, b) => a.name.localeCompare(b.name)) };
}

/** The runs of a group folder. */
export function listGroup(dir: string, o: ListOptions = {}): RunNode[] {
  return sortRuns(listRuns(dir).map((e) => runNode({ ...e, group: path.basename(dir) }, o)));
}

/** A run's checkpoints by ascending sequence count (io/runStore listCheckpoints). */
export function listCheckpoints(run: RunNode): CheckpointNode[] {
  let refs: CheckpointRef[];
  try {
    refs = RunDir.open(run.dir).listCheckpoints();
  } catch {
    return [];
  }
  return refs.map((c) => ({ kind: 'checkpoint', run, sequences: c.sequences, file: c.path }));
}
