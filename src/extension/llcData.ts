/**
 * What the "LLC and stages" view shows, read from a run folder's caches (no `vscode` import, unit-tested):
 * `llc/<mode>/llc.json` (the LLC curve, per-head LLC, diagnostics, stages; written by `induction-lab llc`) and
 * `dynamics/<mode>/dynamics.json` (essential dynamics; `induction-lab dynamics`), for both sampling modes
 * (as-trained: the run's clamps applied while sampling; clean: none). Layout and types: README "Run folders",
 * src/shared/llc.ts. A file that is missing is null; one that exists but cannot be read (partly written,
 * another format) is null too and named in `problems`, so the view says so instead of showing nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DynamicsFile, LlcMode, LlcRunFile } from '../shared/llc';
import type { LlcModeData } from '../shared/webviewProtocol';

export const LLC_MODES: readonly LlcMode[] = ['as-trained', 'clean'];

export const llcFile = (runDir: string, mode: LlcMode): string => path.join(runDir, 'llc', mode, 'llc.json');
export const dynamicsFile = (runDir: string, mode: LlcMode): string =>
  path.join(runDir, 'dynamics', mode, 'dynamics.json');

/** Parses `file` when it holds format `format`; null when absent; a problem line when unreadable. */
function readCache<T>(file: string, format: string, problems: string[]): T | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      problems.push(`${path.basename(file)}: ${(e as Error).message}`);
    return null;
  }
  try {
    const j = JSON.parse(text) as { format?: unknown };
    if (j.format !== format) {
      problems.push(`${path.basename(file)} is not ${format} (format ${JSON.stringify(j.format)})`);
      return null;
    }
    return j as T;
  } catch (e) {
    problems.push(`${path.basename(file)} is not valid JSON (${(e as Error).message}): rerun the command`);
    return null;
  }
}

/** The modes of `runDir` that have an LLC or essential-dynamics cache (or an unreadable one), as-trained first. */
export function readLlcData(runDir: string): LlcModeData[] {
  const out: LlcModeData[] = [];
  for (const mode of LLC_MODES) {
    const problems: string[] = [];
    const llc = readCache<LlcRunFile>(llcFile(runDir, mode), 'induction-lab/llc-v1', problems);
    const dynamics = readCache<DynamicsFile>(dynamicsFile(runDir, mode), 'induction-lab/dynamics-v1', problems);
    if (llc || dynamics || problems.length)
      out.push({ mode, llc, dynamics, problems: problems.map((p) => `${mode}: ${p}`) });
  }
  return out;
}

/** A status line for a run with no cache yet: what to run. */
export const NO_LLC_YET =
  'No LLC estimate for this run yet: run "Induction Lab: Estimate LLC" (or `induction-lab llc RUN --per-head`), and ' +
  '"Induction Lab: Essential Dynamics" for the trajectory.';
