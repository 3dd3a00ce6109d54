/**
 * The palette commands of the "LLC and stages" view: Show LLC and Stages, Estimate LLC (at every checkpoint,
 * with the per-head LLC, or — while the run trains — as checkpoints arrive: `llc RUN --follow` in a second
 * child) and Essential Dynamics. Each runs the CLI through the RunManager's task path (a cancellable
 * notification fed by `--progress json`; Cancel sends SIGINT, on which `llc` stops after its current SGLD step
 * and keeps what it finished), then resends the caches to the open LLC views.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import type { RunNode } from './runListing';
import type { RunManager } from './runManager';
import type { LabViews } from './webviews';
import { throttle } from '../shared/throttle';

/** What "Estimate LLC" can do with a run. */
export type LlcChoice = 'model' | 'per-head' | 'follow';

/** The CLI arguments of a choice (the task path adds `--progress json` and `--workers N`). */
export function llcArgs(runDir: string, choice: LlcChoice): string[] {
  if (choice === 'follow') return ['llc', runDir, '--follow'];
  return ['llc', runDir, ...(choice === 'per-head' ? ['--per-head'] : [])];
}

export const LLC_CHOICES: ReadonlyArray<{ choice: LlcChoice; label: string; detail: string; training?: boolean }> = [
  {
    choice: 'model',
    label: 'LLC at every checkpoint',
    detail: '10 chains × 100 draws each; cached: only new checkpoints cost',
  },
  {
    choice: 'per-head',
    label: 'LLC and per-head LLC at every checkpoint',
    detail: 'the weight-refined LLC of all 16 heads too (≈ 16× the time)',
  },
  {
    choice: 'follow',
    label: 'As checkpoints arrive (while the run trains)',
    training: true,
    detail: '`llc --follow` in a second process: each new checkpoint is estimated, until the run stops',
  },
];

export interface LlcCommandDeps {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  cmd: (id: string, f: (...a: any[]) => unknown) => vscode.Disposable;
  manager: RunManager;
  views: LabViews;
  pickRun: (filter: (n: RunNode) => boolean, title: string) => Promise<RunNode | undefined>;
}

export function llcCommands({ cmd, manager, views, pickRun }: LlcCommandDeps): vscode.Disposable[] {
  const idOf = (n: RunNode) => path.basename(n.dir);
  // One LLC panel per run: the commands reveal it when it is open.
  const open = (n: RunNode) => views.revealPanel('llc', idOf(n)) || views.openPanel('llc', { runId: idOf(n) });
  return [
    cmd('inductionLab.openLlc', async (node?: RunNode) => {
      const n = node ?? (await pickRun(() => true, 'Show the LLC and stages of'));
      if (n) open(n);
    }),
    cmd('inductionLab.estimateLlc', async (node?: RunNode, given?: LlcChoice) => {
      const n = node ?? (await pickRun(() => true, 'Estimate the LLC of'));
      if (!n) return;
      const training = n.status === 'running';
      const items = LLC_CHOICES.filter((c) => training || !c.training);
      const choice =
        given ??
        (
          await vscode.window.showQuickPick(
            items.map((c) => ({ ...c, description: '' })),
            { title: `Estimate the LLC of ${n.fullName}` },
          )
        )?.choice;
      if (!choice) return;
      open(n);
      // Results are written checkpoint by checkpoint: resend them as the task reports progress.
      const refresh = throttle(() => views.refreshLlc(idOf(n)), 2000);
      const r = await manager
        .runTask({
          title: `${choice === 'follow' ? 'LLC as checkpoints arrive' : 'LLC'} of ${n.fullName}`,
          args: llcArgs(n.dir, choice),
          slots: choice === 'per-head' ? 2 : 1,
          workersFlag: true,
          cancelSignal: 'SIGINT',
          onProgress: refresh,
        })
        .finally(() => {
          refresh.cancel();
          views.refreshLlc(idOf(n));
        });
      if (r.cancelled)
        void vscode.window.showInformationMessage('Induction Lab: LLC stopped; finished checkpoints are kept.');
    }),
    cmd('inductionLab.essentialDynamics', async (node?: RunNode) => {
      const n = node ?? (await pickRun((r) => r.status !== 'running', 'Essential dynamics of'));
      if (!n) return;
      open(n);
      await manager
        .runTask({ title: `essential dynamics of ${n.fullName}`, args: ['dynamics', n.dir] })
        .finally(() => views.refreshLlc(idOf(n)));
    }),
  ];
}
