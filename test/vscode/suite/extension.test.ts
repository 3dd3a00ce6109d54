import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { InductionLabApi } from '../../../src/extension';

const EXTENSION_ID = 'induction-lab.induction-lab';

describe('Induction Lab extension', () => {
  it('is installed and activates with its test API', async () => {
    const ext = vscode.extensions.getExtension<InductionLabApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not loaded`);
    const api = await ext.activate();
    assert.ok(ext.isActive);
    assert.ok(api?.runs, 'activate() returns { runs }');
  });

  it('registers every command package.json contributes', async () => {
    const commands = await vscode.commands.getCommands(true);
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const manifest = ext.packageJSON as { contributes: { commands: Array<{ command: string }> } };
    const ids = manifest.contributes.commands.map((c) => c.command);
    assert.ok(ids.includes('inductionLab.computeOverTraining'));
    for (const id of ids) assert.ok(commands.includes(id), `command ${id} is not registered`);
  });

  it('inductionLab.showEngineInfo resolves to the extension version', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const version = await vscode.commands.executeCommand<string>('inductionLab.showEngineInfo');
    assert.equal(version, (ext.packageJSON as { version: string }).version);
  });

  it('inductionLab.refreshRuns resolves', async () => {
    await vscode.commands.executeCommand('inductionLab.refreshRuns');
  });

  it('opens its activity-bar container and runs view', async () => {
    await vscode.commands.executeCommand('workbench.view.extension.inductionLab');
    await vscode.commands.executeCommand('inductionLab.runs.focus');
  });
});
