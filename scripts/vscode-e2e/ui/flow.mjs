// UI-pass section (the extension-host half of issue 13): the start flow's Enter path takes the shown
// defaults (demo, then L2H3 in the head picker), the confirm step lists one clamp per row with nothing cut
// off, a pattern clamp on an ablated head is refused inline, a stop shows a toast with Resume, two runs of
// one preset get different names, a completed run announces itself; screenshots in a dark and a light theme.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { STEP_TIMEOUT } from './helpers.mjs';

const REST = 'ablate L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7';
const RUN_START_TIMEOUT = 120_000;

/** run.json of the newest run folder directly under the workspace's runs root. */
function newestRun(workspace) {
  const root = join(workspace, '.induction-lab', 'runs');
  const dirs = readdirSync(root)
    .map((d) => join(root, d))
    .filter((d) => {
      try {
        return statSync(join(d, 'run.json')).isFile();
      } catch {
        return false;
      }
    });
  dirs.sort((a, b) => statSync(b).birthtimeMs - statSync(a).birthtimeMs || statSync(b).mtimeMs - statSync(a).mtimeMs);
  return { dir: dirs[0], rj: JSON.parse(readFileSync(join(dirs[0], 'run.json'), 'utf8')) };
}

export async function flow(ui) {
  const { page, step, sidebarRow, screenshot, palette, quickPick } = ui;
  const expectRow = (rows, text) => {
    if (!rows.some((r) => r.includes(text))) throw new Error(`no row "${text}" in ${JSON.stringify(rows)}`);
  };
  /** In step 2 (multi-select): check the row containing `text` (keyboard only). */
  const toggle = (text) => ui.toggleRow(text);
  /** No row label of the open quick pick is cut off with an ellipsis. */
  const nothingTruncated = async () => {
    const cut = await page
      .locator(
        '.quick-input-widget .monaco-list-row .label-name, .quick-input-widget .monaco-list-row .monaco-icon-label-container',
      )
      .evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
    if (cut.length) throw new Error(`cut-off rows: ${JSON.stringify(cut)}`);
  };

  await step(
    'start flow: Enter, Enter, Enter trains the default preset demo (L2H3 its only Layer-2 head)',
    async () => {
      // Fewer webviews redrawing while demo streams its metrics (a loaded 2-core machine lags otherwise).
      await palette('View: Close All Editors');
      await palette('Induction Lab: Start clamped run');
      await quickPick('preset');
      const first = await ui.focusedRow();
      if (!/^demo\b/.test(first)) throw new Error(`step 1 focuses "${first}", not the default demo`);
      expectRow(await ui.quickPickRows(), 'Presets');
      await screenshot('flow-1-preset-demo-focused');
      await page.keyboard.press('Enter');
      await quickPick('clamps');
      const rows2 = await ui.quickPickRows();
      expectRow(rows2, "demo's own clamps");
      expectRow(rows2, REST);
      await screenshot('flow-2-preset-clamps-shown');
      await page.keyboard.press('Enter');
      await quickPick('confirm');
      const rows3 = await ui.quickPickRows();
      expectRow(rows3, REST);
      await nothingTruncated();
      if (!(await ui.focusedRow()).includes('Start')) throw new Error('the confirm step does not focus Start');
      await screenshot('flow-3-confirm-one-clamp-per-row');
      await page.keyboard.press('Enter');
      // Starting loads the task data in the child: give a loaded machine time.
      await sidebarRow('demo').filter({ hasText: 'only L2H3' }).first().waitFor({ timeout: RUN_START_TIMEOUT });
      await screenshot('flow-4-demo-training');
      const { rj } = newestRun(ui.workspace);
      const clamps = rj.config?.clamps ?? [];
      if (
        rj.preset !== 'demo' ||
        clamps.length !== 1 ||
        clamps[0].kind !== 'ablate' ||
        clamps[0].heads.includes('L2H3') ||
        clamps[0].heads.length !== 7
      ) {
        throw new Error(`run.json says preset ${rj.preset}, clamps ${JSON.stringify(clamps)}`);
      }
    },
  );

  await step('stopping the run from the status bar shows a toast with Resume', async () => {
    // Right away, while demo (1.6e5 sequences) still trains: one click on the status-bar item stops it.
    await page
      .locator('.part.statusbar .statusbar-item', { hasText: /^\s*\d+ training/ })
      .first()
      .click();
    const text = await ui.notification('stopped at', RUN_START_TIMEOUT, 'flow-5-stopped-toast');
    if (!text.includes('Resume')) throw new Error(`the stop notification has no Resume: ${text}`);
    await sidebarRow('demo').filter({ hasText: 'cancelled' }).first().waitFor({ timeout: STEP_TIMEOUT });
  });

  await step('start flow: the head picker focuses its shown default L2H3 and marks the ablated heads', async () => {
    await palette('Induction Lab: Start clamped run');
    await quickPick('preset');
    await page.keyboard.press('Enter');
    await quickPick('clamps');
    await toggle('Induction pattern');
    await page.keyboard.press('Enter');
    await quickPick('Clamp which Layer-2 head?');
    const head = await ui.focusedRow();
    if (!head.startsWith('L2H3')) throw new Error(`the head picker focuses "${head}", not L2H3`);
    expectRow(
      (await ui.quickPickRows()).filter((r) => r.startsWith('L2H0')),
      'ablated',
    );
    await screenshot('flow-6-head-picker-L2H3');
    await page.keyboard.press('Enter');
    await quickPick('Induction strength for L2H3');
    await page.keyboard.press('Enter');
    await quickPick('confirm');
    const rows = await ui.quickPickRows();
    expectRow(rows, 'induction L2H3 (s = 1)');
    expectRow(rows, REST);
    if (!(await ui.focusedRow()).includes('Start')) throw new Error('the confirm step does not focus Start');
    await nothingTruncated();
    await screenshot('flow-7-confirm-induction-L2H3');
    await page.keyboard.press('Escape');
  });

  await step('start flow: an induction clamp on a head the preset ablates is refused inline', async () => {
    await palette('Induction Lab: Start clamped run');
    await quickPick('preset');
    await page.keyboard.press('Enter');
    await quickPick('clamps');
    await toggle('Induction pattern');
    await page.keyboard.press('Enter');
    await quickPick('Clamp which Layer-2 head?', 'L2H0');
    await page.keyboard.press('Enter');
    await quickPick('Induction strength for L2H0');
    await page.keyboard.press('Enter');
    await quickPick('confirm');
    const rows = await ui.quickPickRows();
    expectRow(rows, 'Refused by the engine');
    expectRow(rows, 'head L2H0 is zero-ablated');
    if (rows.some((r) => r.includes('$(play) Start') || /^Start\b/.test(r)))
      throw new Error(`a refused run still offers Start: ${JSON.stringify(rows)}`);
    if (!(await ui.focusedRow()).includes('Back to clamps'))
      throw new Error('the refusal does not focus "Back to clamps"');
    await screenshot('flow-8-refused-ablated-head');
    await page.keyboard.press('Escape');
  });

  let names = [];
  await step('two runs of one preset have different names in the tree; a completed run announces itself', async () => {
    await palette('Induction Lab: Start clamped run');
    await quickPick('preset', 'smoke');
    await page.keyboard.press('Enter');
    await quickPick('clamps');
    await page.keyboard.press('Enter');
    await quickPick('confirm');
    await page.keyboard.press('Enter');
    const rows = page.locator('.part.sidebar .monaco-list-row', { hasText: 'smoke' }).filter({ hasText: '#' });
    const t0 = Date.now();
    while ((await rows.count()) < 2) {
      if (Date.now() - t0 > RUN_START_TIMEOUT) throw new Error(`only ${await rows.count()} smoke run(s) in the tree`);
      await page.waitForTimeout(300);
    }
    names = (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    if (new Set(names).size !== names.length) throw new Error(`two smoke runs share a name: ${JSON.stringify(names)}`);
    const text = await ui.notification('completed in', 180_000, 'flow-9-completion-notification');
    for (const want of ['final loss', 'Open report.md'])
      if (!text.includes(want)) throw new Error(`completion notification lacks "${want}": ${text}`);
    await screenshot('flow-10-two-smoke-runs');
  });

  /** The checkpoint hover's image per theme: drawn in the theme's ink, so three themes give three images. */
  const hoverImages = new Map();
  for (const [theme, tag] of [
    ['Dark Modern', 'dark'],
    ['Default High Contrast', 'hc'],
    ['Light Modern', 'light'],
  ]) {
    await step(`screenshots in ${theme}: runs tree, checkpoint hover, start flow`, async () => {
      await ui.setTheme(theme);
      await page.keyboard.press('Escape');
      await screenshot(`${tag}-runs-tree`);
      const run = sidebarRow('smoke').filter({ hasText: 'completed' }).first();
      // A checkpoint near the top: the runs view is short (the dashboard gets most of the side bar).
      const ck = sidebarRow('seq 160').first();
      if (!(await ck.count())) await run.click();
      await ck.waitFor({ timeout: STEP_TIMEOUT });
      // Hovers open on a fresh mouse move: move away and back, a few times if the first one is missed.
      const hover = page.locator('.monaco-hover', { hasText: 'Strongest induction head' }).first();
      for (let tries = 0; ; tries++) {
        await page.mouse.move(700, 450);
        await page.waitForTimeout(300);
        await ck.locator('.label-name').hover();
        if (
          await hover.waitFor({ state: 'visible', timeout: 15_000 }).then(
            () => true,
            () => false,
          )
        )
          break;
        if (tries === 3) throw new Error('no checkpoint hover after 4 tries');
      }
      await page.waitForTimeout(500);
      hoverImages.set(tag, await hover.locator('img').first().getAttribute('src'));
      await screenshot(`${tag}-checkpoint-hover`);
      await palette('Induction Lab: Start clamped run');
      await quickPick('preset');
      await page.keyboard.press('Enter');
      await quickPick('clamps');
      await screenshot(`${tag}-start-flow-clamps`);
      await page.keyboard.press('Escape');
    });
  }
  await step(
    'the checkpoint hover is redrawn for each theme (not kept from the first theme it opened in)',
    async () => {
      const distinct = new Set(hoverImages.values());
      if (hoverImages.size !== 3 || distinct.size !== 3 || distinct.has(null))
        throw new Error(
          `hover images per theme: ${[...hoverImages].map(([t, src]) => `${t} ${src?.slice(-24)}`).join(', ')}`,
        );
    },
  );
}
