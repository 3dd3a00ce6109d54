/**
 * A tiny real run through the extension: start → metrics → checkpoint → finished in a forked child;
 * the hover provider on its metrics.jsonl shows the checkpoint's heads; a cancelled run leaves a
 * checkpoint and resumes to completion; the attention panel opens.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InductionLabApi } from '../../../src/extension';
import type { FromChildMessage } from '../../../src/shared/protocol';

async function api(): Promise<InductionLabApi> {
  return vscode.extensions.getExtension<InductionLabApi>('induction-lab.induction-lab')!.activate();
}

/** Collects the messages of the next run the manager starts until it finishes. */
function nextRun(a: InductionLabApi): { messages: FromChildMessage[]; done: Promise<FromChildMessage[]> } {
  const messages: FromChildMessage[] = [];
  let sub: vscode.Disposable;
  const done = new Promise<FromChildMessage[]>((resolve) => {
    sub = a.manager.onMessage((_r, m) => {
      messages.push(m);
      if (m.type === 'finished') {
        sub.dispose();
        resolve(messages);
      }
    });
  });
  return { messages, done };
}

const tiny = { data: { evalSize: 20 }, train: { sequences: 192, evalEvery: 64, checkpointEvery: 64, backend: 'cpu' } };

describe('Training lifecycle in the real extension host', function () {
  this.timeout(240_000);
  let runDir = '';
  const made: string[] = [];
  // Leave the fixture workspace as it was for the other suites.
  after(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });

  it('trains a tiny run in a child process: started → metrics → checkpoint → finished', async () => {
    const a = await api();
    const watch = nextRun(a);
    runDir = await a.startRun({ preset: 'smoke', config: tiny });
    made.push(runDir);
    const messages = await watch.done;
    const types = messages.map((m) => m.type);
    for (const t of ['started', 'metrics', 'checkpoint', 'finished'] as const)
      assert.ok(types.includes(t), `no ${t} message in ${types.join(',')}`);
    const fin = messages.find((m) => m.type === 'finished') as Extract<FromChildMessage, { type: 'finished' }>;
    assert.equal(fin.status, 'completed');
    const run = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    assert.equal(run.status, 'completed');
    // train.backend picks the TF.js backend only when TF.js trains: the fast engine ran, so no backend (contracts §1).
    assert.equal(run.engine, 'fast');
    assert.equal(run.backend, null);
    assert.equal(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 4);
    assert.ok(fs.existsSync(path.join(runDir, 'checkpoints', 'seq-192.safetensors')));
    // The completion notification: its unique name, final losses, and report.md to open.
    const notice = a.manager.notices.find(
      (n) => n.includes(path.basename(runDir).slice(-4)) && n.includes('completed in'),
    );
    assert.ok(notice, `no completion notice in ${JSON.stringify(a.manager.notices)}`);
    assert.match(notice!, /^smoke · no clamps · #[0-9a-f]{4} completed in .* · final loss train \d\.\d{3}/);
  });

  it('Rename stores run.json displayName (not the folder) and the tree shows it', async () => {
    const a = await api();
    await vscode.commands.executeCommand('inductionLab.renameRun', runDir, 'tiny smoke for the suite');
    const rj = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    assert.equal(rj.displayName, 'tiny smoke for the suite');
    assert.ok(fs.existsSync(runDir), 'the folder keeps its name');
    const node = (await a.runs.getChildren()).find((n) => n.kind === 'run' && n.dir === runDir);
    assert.ok(node && node.kind === 'run');
    assert.equal(a.runs.getTreeItem(node).label, 'tiny smoke for the suite');
    await vscode.commands.executeCommand('inductionLab.renameRun', runDir, '');
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')).displayName, undefined);
  });

  it('Compute Measures over Training (by run id): every checkpoint, both counters in the notification', async () => {
    const a = await api();
    const r = await vscode.commands.executeCommand<{ runId: string; cancelled: boolean }>(
      'inductionLab.computeOverTraining',
      path.basename(runDir),
      { measures: ['dense', 'influence-matrix'], subsample: 20 },
    );
    assert.deepEqual(r, { runId: path.basename(runDir), cancelled: false });
    const aggregate = path.join(runDir, 'measures', 'influence-matrix-over-training-sub20.json');
    const agg = JSON.parse(fs.readFileSync(aggregate, 'utf8'));
    assert.deepEqual(agg.sequences, [64, 128, 192]);
    const msgs = a.manager.progressMessages;
    assert.ok(
      msgs.some((m) => /^checkpoints \d\/3/.test(m)),
      `no checkpoints n/3 in ${JSON.stringify(msgs)}`,
    );
    assert.ok(
      msgs.some((m) => /influence-matrix \d+\/264 configurations/.test(m)),
      `no n/264 in ${JSON.stringify(msgs)}`,
    );
  });

  it('the runs tree lists the new run with its checkpoints, and hovering its step in metrics.jsonl shows the heads', async () => {
    const a = await api();
    await vscode.commands.executeCommand('inductionLab.refreshRuns');
    const roots = await a.runs.getChildren();
    const node = roots.find((n) => n.kind === 'run' && n.dir === runDir);
    assert.ok(node, 'run in tree');
    const cks = await a.runs.getChildren(node);
    assert.deepEqual(
      cks.map((c) => (c.kind === 'checkpoint' ? c.sequences : -1)),
      [64, 128, 192],
    );
    const doc = await vscode.workspace.openTextDocument(path.join(runDir, 'metrics.jsonl'));
    const line = doc
      .getText()
      .split('\n')
      .findIndex((l) => l.includes('"sequences":128'));
    assert.ok(line >= 0);
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      doc.uri,
      new vscode.Position(line, 5),
    );
    const text = hovers
      .flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : (c as vscode.MarkdownString).value)))
      .join('\n');
    assert.match(text, /checkpoint at \*\*128\*\* sequences/);
    assert.match(text, /data:image\/svg\+xml;base64,/);
    assert.match(text, /Strongest induction head: \*\*L2H\d\*\*/);
  });

  it('cancel stops a run with a checkpoint, and resume finishes it', async () => {
    const a = await api();
    const watch = nextRun(a);
    const dir = await a.startRun({
      preset: 'smoke',
      config: { ...tiny, train: { ...tiny.train, sequences: 64_000, evalEvery: 32_000, checkpointEvery: 32_000 } },
    });
    made.push(dir);
    // Cancel once it is training.
    await new Promise<void>((resolve) => {
      const sub = a.manager.onMessage((_r, m) => {
        if (m.type === 'progress') {
          sub.dispose();
          resolve();
        }
      });
    });
    // One limit for every child: with one slot, the training run leaves none for a measure task.
    const cfg = vscode.workspace.getConfiguration('inductionLab');
    await cfg.update('maxConcurrentRuns', 1, vscode.ConfigurationTarget.Global);
    try {
      await assert.rejects(
        a.manager.runTask({ title: 'refused', args: ['measure', dir, '--checkpoints', 'all'] }),
        /1 of 1 training slots are busy/,
      );
    } finally {
      await cfg.update('maxConcurrentRuns', undefined, vscode.ConfigurationTarget.Global);
    }
    await vscode.commands.executeCommand('inductionLab.stopRun');
    const messages = await watch.done;
    const fin = messages.find((m) => m.type === 'finished') as Extract<FromChildMessage, { type: 'finished' }>;
    assert.equal(fin.status, 'cancelled');
    const rj = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
    assert.equal(rj.status, 'cancelled');
    const cks = fs.readdirSync(path.join(dir, 'checkpoints')).filter((f) => /^seq-\d+\.safetensors$/.test(f));
    assert.ok(cks.length >= 1, 'a checkpoint to resume from');
    const stoppedAt = rj.sequences as number;
    assert.ok(stoppedAt < 64_000);
    assert.ok(
      a.manager.notices.some((n) => n.includes('stopped at') && n.includes('Resume continues')),
      'a stop notice with Resume',
    );

    const resumeWatch = nextRun(a);
    const resumeDone = resumeWatch.done;
    const roots = await a.runs.getChildren();
    const node = roots.find((n) => n.kind === 'run' && n.dir === dir)!;
    // Resume from the tree item, but only a little further: stop again after it restarted from the checkpoint.
    await vscode.commands.executeCommand('inductionLab.resumeRun', node);
    const started = await new Promise<Extract<FromChildMessage, { type: 'started' }>>((resolve) => {
      const check = () => {
        const s = resumeWatch.messages.find((m) => m.type === 'started');
        if (s) resolve(s as never);
        else setTimeout(check, 50);
      };
      check();
    });
    assert.equal(started.startSequences, stoppedAt);
    await vscode.commands.executeCommand('inductionLab.stopRun');
    await resumeDone;
  });

  it('measureWhileTraining: a second child measures every checkpoint of a run it trains', async () => {
    const a = await api();
    const cfg = vscode.workspace.getConfiguration('inductionLab');
    const global = vscode.ConfigurationTarget.Global;
    await cfg.update('measureWhileTraining', true, global);
    await cfg.update('measuresOverTraining', ['dense'], global);
    const until = async (ok: () => boolean, ms: number, what: string) => {
      const t0 = Date.now();
      while (!ok()) {
        if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const watch = nextRun(a);
      const dir = await a.startRun({ preset: 'smoke', config: tiny });
      made.push(dir);
      const follower = () => a.manager.activeTasks.some((t) => t.title.includes('while it trains'));
      await until(follower, 20_000, 'no measure --follow child started with the run');
      await watch.done;
      // It ends by itself once the run has stopped and every checkpoint is measured.
      await until(() => !follower(), 180_000, 'the measure --follow child did not end after the run');
      const file = fs.readdirSync(path.join(dir, 'measures')).find((f) => f.startsWith('dense-over-training'));
      assert.ok(file, 'no dense aggregate');
      const agg = JSON.parse(fs.readFileSync(path.join(dir, 'measures', file), 'utf8'));
      assert.deepEqual(agg.sequences, [64, 128, 192]);
    } finally {
      await cfg.update('measureWhileTraining', undefined, global);
      await cfg.update('measuresOverTraining', undefined, global);
    }
  });

  it('opens the attention panel for a run', async () => {
    const a = await api();
    await vscode.commands.executeCommand('inductionLab.openAttention');
    assert.equal(a.views.count('attention') >= 1, true);
  });
});
