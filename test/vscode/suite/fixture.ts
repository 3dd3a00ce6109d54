// What the harness writes into the test workspace (scripts/vscode-e2e/fixture.mjs writes the files and a
// copy of this description as `.vscode-e2e-fixture.json`); the tests read it back to know what to expect.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

export interface FixtureRun {
  folder: string;
  /** Label the runs tree should show (run.json `name`, else the folder name). */
  label: string;
  status?: string;
  checkpoints: number[];
  /** Eval losses logged at a checkpoint, keyed by sequences. */
  losses: Record<string, Record<string, number>>;
}

export interface Fixture {
  runs: FixtureRun[];
}

export const FIXTURE_FILE = '.vscode-e2e-fixture.json';

export function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('the integration tests need a workspace folder (the harness opens a fixture workspace)');
  return folder.uri.fsPath;
}

export function readFixture(): Fixture {
  return JSON.parse(fs.readFileSync(path.join(workspaceRoot(), FIXTURE_FILE), 'utf8')) as Fixture;
}
