import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CheckpointNode, InductionLabApi, RunNode, RunsTreeNode } from '../../../src/extension';
import { readFixture, workspaceRoot } from './fixture';

async function api(): Promise<InductionLabApi> {
  return vscode.extensions.getExtension<InductionLabApi>('induction-lab.induction-lab')!.activate();
}

function isRun(n: RunsTreeNode): n is RunNode {
  return n.kind === 'run';
}

function tooltipText(item: vscode.TreeItem): string {
  const t = item.tooltip;
  return typeof t === 'string' ? t : (t?.value ?? '');
}

describe('Runs tree', () => {
  const fixture = readFixture();

  it('lists the fixture runs with name and status', async () => {
    const { runs } = await api();
    const roots = await runs.getChildren();
    assert.ok(roots.every(isRun));
    // The one order of run lists (io/runStore compareNewestFirst): without run.json `created`, by folder, newest
    // (greatest id) first.
    assert.deepEqual(
      roots.map((r) => (r as RunNode).name),
      [...fixture.runs].sort((a, b) => b.folder.localeCompare(a.folder)).map((r) => r.label),
    );
    for (const expected of fixture.runs) {
      const node = roots.find((r) => (r as RunNode).name === expected.label) as RunNode;
      assert.equal(node.dir, path.join(workspaceRoot(), '.induction-lab', 'runs', expected.folder));
      const item = runs.getTreeItem(node);
      assert.equal(item.label, expected.label);
      // "clamps · #id · status": unique even when two runs share a name.
      assert.match(String(item.description), new RegExp(`^no clamps · #[0-9a-f]{4} · ${expected.status}$`));
      assert.equal(item.collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    }
  });

  it('expands a run to its checkpoints, sorted by sequences', async () => {
    const { runs } = await api();
    const roots = (await runs.getChildren()) as RunNode[];
    for (const expected of fixture.runs) {
      const node = roots.find((r) => r.name === expected.label)!;
      const children = (await runs.getChildren(node)) as CheckpointNode[];
      assert.deepEqual(
        children.map((c) => c.sequences),
        expected.checkpoints,
      );
      assert.deepEqual(
        children.map((c) => runs.getTreeItem(c).label),
        expected.checkpoints.map((n) => `seq ${n.toLocaleString('en-US')}`),
      );
      for (const c of children) assert.deepEqual(await runs.getChildren(c), []);
    }
  });

  it('resolves a checkpoint tooltip with run name, sequences and eval losses', async () => {
    const { runs } = await api();
    const roots = (await runs.getChildren()) as RunNode[];
    const expected = fixture.runs.find((r) => Object.keys(r.losses).length > 0)!;
    const run = roots.find((r) => r.name === expected.label)!;
    const checkpoints = (await runs.getChildren(run)) as CheckpointNode[];
    for (const cp of checkpoints) {
      const item = runs.getTreeItem(cp);
      assert.equal(item.tooltip, undefined, 'tooltip is left for resolveTreeItem');
      const resolved = await runs.resolveTreeItem(item, cp);
      assert.ok(resolved.tooltip instanceof vscode.MarkdownString, 'tooltip is a MarkdownString');
      const text = tooltipText(resolved);
      assert.match(text, new RegExp(expected.label.replace(/[^a-z0-9]+/gi, '.*')));
      assert.match(text, new RegExp(cp.sequences.toLocaleString('en-US')));
      // Each eval loss logged at exactly this checkpoint's sequences, to 4 decimals.
      for (const [name, loss] of Object.entries(expected.losses[String(cp.sequences)] ?? {})) {
        assert.ok(
          text.includes(loss.toFixed(4)),
          `loss ${loss.toFixed(4)} of ${name} missing from ${JSON.stringify(text)}`,
        );
      }
    }
  });

  it('picks up a run created while VS Code is open after inductionLab.refreshRuns', async () => {
    const { runs } = await api();
    const dir = path.join(workspaceRoot(), '.induction-lab', 'runs', 'zz-created-by-test');
    await vscode.workspace.fs.writeFile(
      vscode.Uri.file(path.join(dir, 'run.json')),
      Buffer.from(JSON.stringify({ name: 'zz created by test', status: 'running' })),
    );
    try {
      await vscode.commands.executeCommand('inductionLab.refreshRuns');
      const names = ((await runs.getChildren()) as RunNode[]).map((r) => r.name);
      assert.ok(names.includes('zz created by test'), `new run missing from ${names.join(', ')}`);
    } finally {
      await vscode.workspace.fs.delete(vscode.Uri.file(dir), { recursive: true });
    }
  });
});
