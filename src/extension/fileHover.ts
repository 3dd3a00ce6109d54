/**
 * Hovering a checkpoint's step in a run's files (metrics.jsonl, run.json, a checkpoint summary) shows the
 * same heads as the runs tree: the line's `"sequences": N` is matched to checkpoints/seq-N.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { readSummary, checkpointMarkdown } from './checkpointHover';
import { runName } from '../shared/runName';
import { themeKind } from './runsTree';
import type { ClampSpec } from '../engine/clamps/spec';
import { RunDir } from '../engine/io/runStore';

export class CheckpointHoverProvider implements vscode.HoverProvider {
  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const line = doc.lineAt(pos.line).text;
    const re = /"sequences"\s*:\s*(\d+)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(line))) {
      const range = new vscode.Range(pos.line, m.index, pos.line, m.index + m[0].length);
      // metrics.jsonl lines are long: the whole line counts as hovering its step.
      if (!range.contains(pos) && !doc.fileName.endsWith('.jsonl')) continue;
      const runDir = path.dirname(doc.fileName).endsWith(`${path.sep}checkpoints`)
        ? path.dirname(path.dirname(doc.fileName))
        : path.dirname(doc.fileName);
      let rd: RunDir;
      try {
        rd = RunDir.open(runDir);
      } catch {
        return undefined;
      } // not a run's file
      const ckpt = rd.listCheckpoints().find((c) => c.sequences === Number(m![1]))?.path;
      const at = Number(m[1]).toLocaleString('en-US');
      if (!ckpt) return new vscode.Hover(`No checkpoint was saved at ${at} sequences.`, range);
      const summary = readSummary(ckpt);
      if (!summary) return new vscode.Hover(`Checkpoint \`${path.basename(ckpt)}\` (no summary saved with it).`, range);
      let rj: Record<string, unknown> = {};
      try {
        rj = rd.readRunJson();
      } catch {
        /* folder name only */
      }
      const config = (rj.config ?? {}) as { clamps?: ClampSpec[] };
      const name = runName({
        id: path.basename(runDir),
        displayName: rj.displayName,
        preset: rj.preset,
        name: rj.name,
        clamps: config.clamps,
      }).full;
      return new vscode.Hover(
        new vscode.MarkdownString(
          checkpointMarkdown(name, summary, { clamps: config.clamps, theme: themeKind() }),
          true,
        ),
        range,
      );
    }
    return undefined;
  }
}

export const RUN_FILES_SELECTOR: vscode.DocumentSelector = [
  { scheme: 'file', pattern: '**/metrics.jsonl' },
  { scheme: 'file', pattern: '**/run.json' },
  { scheme: 'file', pattern: '**/checkpoints/*.summary.json' },
];
