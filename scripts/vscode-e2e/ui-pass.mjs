// The UI pass: drives the workbench in Chromium as a person would and saves a PNG after each step. It runs
// sections (one file each under ui/, so engineers can add theirs without editing the others'): the basics
// (tree, palette, hover), a training run (dashboard, attention panel), the views' steps, measures over
// training, the start flow and run feedback. A failing step leaves `<pass>-FAILED-<step>.png`, the browser
// console and the code-server log, and its error names the step; later steps are skipped.
import { mkdirSync } from 'node:fs';
import { makeUi } from './ui/helpers.mjs';
import { basics } from './ui/basics.mjs';
import { training } from './ui/training.mjs';
import { flow } from './ui/flow.mjs';
import { llc } from './ui/llc.mjs';
import { measures } from './ui/measures.mjs';
import { runViewsSteps } from './ui-views-pass.mjs';

/** Sections in order; each is `async (ui) => void` using ui.step(...). Add a section here. */
/** The views' own steps (hit-testing, restored panels, layout, themes), after `training` finished its smoke run. */
const views = (ui) => runViewsSteps(ui);

// llc after views: on a loaded machine its two CLI tasks before views' Reload Window step pushed that step past
// its timeouts (two runs at load 25); after it, every step of both passes.
export const UI_SECTIONS = [basics, training, views, llc, measures, flow];

/**
 * @param {{ browser: any, server: any, workspace: string, pass: string, resultsDir: string,
 *   extensionDevelopmentPath?: string, version: string, toasts?: boolean, sections?: Array<(ui: any) => Promise<void>> }} opts
 *   `extensionDevelopmentPath` opens an Extension Development Host (needs a server started with the
 *   smoke-test driver, which hides toasts: pass `toasts: false`); without it the installed extension runs.
 * @returns {Promise<{ passed: string[], failed: Array<{ step: string, error: string }> }>}
 */
export async function runUiPass({
  browser,
  server,
  workspace,
  pass,
  resultsDir,
  extensionDevelopmentPath,
  version,
  toasts = true,
  sections = UI_SECTIONS,
}) {
  mkdirSync(resultsDir, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  const payload = extensionDevelopmentPath
    ? [['extensionDevelopmentPath', server.remoteUri(extensionDevelopmentPath)]]
    : undefined;
  const ui = makeUi({
    page,
    pass,
    resultsDir,
    toasts,
    server,
    workspace,
    consoleLines,
    version,
    url: server.url(workspace, payload),
  });
  try {
    for (const section of sections) await section(ui);
  } finally {
    await context.close().catch(() => {});
  }
  return ui.result;
}
