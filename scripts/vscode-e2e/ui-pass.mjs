// The UI pass: drives the workbench in Chromium as a person would — activity bar, runs tree, command
// palette, a checkpoint's hover — and saves a PNG after each step. A failing step leaves
// `<pass>-FAILED-<step>.png` and the code-server log in the results folder, and its error names the step.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UI_CHECKPOINT_LABEL, UI_CHECKPOINT_LOSS, UI_RUN_LABEL } from './fixture.mjs';
import { runViewsSteps } from './ui-views-pass.mjs';

const STEP_TIMEOUT = 45_000;

/**
 * @param {{ browser: any, server: any, workspace: string, pass: string, resultsDir: string,
 *   extensionDevelopmentPath?: string, version: string, toasts?: boolean }} opts
 *   `extensionDevelopmentPath` opens an Extension Development Host (needs a server started with the
 *   smoke-test driver, which hides toasts: pass `toasts: false`); without it the installed extension runs.
 * @returns {Promise<{ passed: string[], failed: Array<{ step: string, error: string }> }>}
 */
export async function runUiPass({ browser, server, workspace, pass, resultsDir, extensionDevelopmentPath, version, toasts = true }) {
  mkdirSync(resultsDir, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  const result = { passed: [], failed: [] };
  let shot = 0;
  const screenshot = (name) => page.screenshot({ path: join(resultsDir, `${pass}-${String(++shot).padStart(2, '0')}-${name}.png`) });

  /** Runs one named step; after a failure the remaining steps are reported as skipped failures. */
  const step = async (name, fn) => {
    if (result.failed.length > 0) return;
    const t0 = Date.now();
    try {
      await fn();
      result.passed.push(name);
      console.log(`  ✔ [${pass}] ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
      const png = join(resultsDir, `${pass}-FAILED-${slug}.png`);
      await page.screenshot({ path: png }).catch(() => {});
      const log = join(resultsDir, `${pass}-code-server.log`); // copied by run.mjs with the server's logs
      writeFileSync(join(resultsDir, `${pass}-browser-console.log`), consoleLines.join('\n') + '\n');
      const message = `UI step "${name}" failed in the ${pass} pass: ${firstLine(err)} (screenshot ${png}, log ${log})`;
      result.failed.push({ step: name, error: message });
      console.log(`  ✖ [${pass}] ${name}\n    ${message}`);
    }
  };

  try {
    const payload = extensionDevelopmentPath
      ? [['extensionDevelopmentPath', server.remoteUri(extensionDevelopmentPath)]]
      : undefined;

    await step('workbench loads', async () => {
      await page.goto(server.url(workspace, payload));
      await page.locator('.monaco-workbench').waitFor({ timeout: STEP_TIMEOUT });
    });

    const container = page.locator('.part.activitybar a.action-label[aria-label="Induction Lab"]');
    const sidebarRow = (text) => page.locator('.part.sidebar .monaco-list-row', { hasText: text });

    await step('activity-bar container shows the runs tree', async () => {
      await container.waitFor({ timeout: STEP_TIMEOUT });
      await container.click();
      // A container with one view shows it under the merged title "Induction Lab: Runs".
      await page.locator('.part.sidebar .composite.title', { hasText: 'Induction Lab' }).waitFor({ timeout: STEP_TIMEOUT });
      // The icon can appear before the extension host is ready: real tree content proves it is.
      await sidebarRow(UI_RUN_LABEL).first().waitFor({ timeout: STEP_TIMEOUT });
      await sidebarRow('unnamed-run').first().waitFor({ timeout: STEP_TIMEOUT });
      await screenshot('runs-tree');
    });

    await step('command palette runs "Induction Lab: Show Engine Info"', async () => {
      await page.locator('.part.sidebar').click({ position: { x: 100, y: 400 } });
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: STEP_TIMEOUT });
      await input.fill('>Induction Lab: Show Engine Info');
      await page
        .locator('.quick-input-widget .monaco-list-row', { hasText: 'Induction Lab: Show Engine Info' })
        .first()
        .waitFor({ timeout: STEP_TIMEOUT });
      await screenshot('command-palette');
      await page.keyboard.press('Enter');
      const message = `Induction Lab ${version}`;
      if (toasts) {
        await page.locator('.notifications-toasts .notification-toast', { hasText: message }).waitFor({ timeout: STEP_TIMEOUT });
      } else {
        // The smoke-test driver suppresses toasts: read the message in the notification centre instead.
        await page.locator('[id="status.notifications"] a, [id="status.notifications"]').first().click();
        await page.locator('.notifications-center .monaco-list-row', { hasText: message }).waitFor({ timeout: STEP_TIMEOUT });
      }
      await screenshot('engine-info');
      if (!toasts) await page.keyboard.press('Escape');
    });

    await step('run expands to its checkpoints', async () => {
      await sidebarRow(UI_RUN_LABEL).first().click();
      await sidebarRow(UI_CHECKPOINT_LABEL).first().waitFor({ timeout: STEP_TIMEOUT });
      await sidebarRow('seq 500').first().waitFor({ timeout: STEP_TIMEOUT });
      await screenshot('checkpoints');
    });

    await step('hovering a checkpoint shows its tooltip', async () => {
      // Move away first so the hover is a fresh one, then rest on the checkpoint's label.
      await page.mouse.move(700, 450);
      await sidebarRow(UI_CHECKPOINT_LABEL).first().locator('.label-name').hover();
      const hover = page.locator('.monaco-hover', { hasText: UI_RUN_LABEL });
      await hover.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT });
      const text = await hover.first().innerText();
      // The run's name, the checkpoint's sequences and its fsl_train eval loss (fixture: 1.7525).
      for (const want of [UI_RUN_LABEL, '2,000', UI_CHECKPOINT_LOSS]) {
        if (!text.includes(want)) throw new Error(`hover text lacks "${want}": ${JSON.stringify(text)}`);
      }
      await screenshot('checkpoint-hover');
    });

    /** The frame of a webview that holds `selector` (webviews are two nested iframes). */
    const webviewFrame = async (selector, timeout = STEP_TIMEOUT) => {
      const t0 = Date.now();
      while (Date.now() - t0 < timeout) {
        for (const f of page.frames()) {
          if (await f.locator(selector).count().catch(() => 0)) return f;
        }
        await page.waitForTimeout(500);
      }
      throw new Error(`no webview frame with ${selector}`);
    };
    const palette = async (title) => {
      // Close any hover (it would take the click), then take focus back from any webview (keys typed
      // there do not reach the workbench).
      await page.mouse.move(1000, 700);
      await page.keyboard.press('Escape');
      await page.waitForTimeout(300);
      await page.locator('.part.editor').first().click({ position: { x: 300, y: 300 }, force: true });
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ timeout: STEP_TIMEOUT });
      await input.fill(`>${title}`);
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: STEP_TIMEOUT });
      await page.keyboard.press('Enter');
    };
    const quickPick = async (text, pick) => {
      const input = page.locator('.quick-input-widget input');
      await page.locator('.quick-input-widget .quick-input-title, .quick-input-widget .quick-input-header', { hasText: text }).first().waitFor({ timeout: STEP_TIMEOUT });
      if (pick !== undefined) {
        await input.fill(pick);
        await page.locator('.quick-input-widget .monaco-list-row', { hasText: pick }).first().waitFor({ timeout: STEP_TIMEOUT });
      }
    };

    await step('palette "Start clamped run" → preset, clamps, confirm → the run trains and appears in the tree', async () => {
      await palette('Induction Lab: Start clamped run');
      await quickPick('preset', 'smoke');
      await screenshot('start-run-preset');
      await page.keyboard.press('Enter');
      // Step 2 is a multi-select of clamps: pick none, accept.
      await quickPick('clamps');
      await screenshot('start-run-clamps');
      await page.keyboard.press('Enter');
      await quickPick('confirm', 'Start');
      await screenshot('start-run-confirm');
      await page.keyboard.press('Enter');
      await sidebarRow('smoke').first().waitFor({ timeout: STEP_TIMEOUT });
      await screenshot('run-started');
    });

    await step('the dashboard in the side panel shows the run\'s live loss curves', async () => {
      // Starting a run focuses the dashboard view in the side panel.
      const f = await webviewFrame('svg[aria-label="Per-head scores"]', 90_000);
      // Curves appear once the first evaluations arrive; the header names the run.
      await f.locator('path.line').first().waitFor({ timeout: 90_000 });
      const t0 = Date.now();
      while (!(await f.locator('body').innerText()).includes('smoke')) {
        if (Date.now() - t0 > 60_000) throw new Error('the dashboard does not show the new run "smoke"');
        await page.waitForTimeout(500);
      }
      // Wait until the run finished (the tree shows "completed") so the checkpoints exist.
      await sidebarRow('completed').first().waitFor({ timeout: 180_000 });
      await page.waitForTimeout(1500);
      await screenshot('dashboard');
    });

    await step('hovering a checkpoint of the new run shows every head', async () => {
      await sidebarRow('smoke').first().click();
      await sidebarRow('seq 3200').first().waitFor({ timeout: STEP_TIMEOUT });
      await page.mouse.move(700, 450);
      await sidebarRow('seq 3200').first().locator('.label-name').hover();
      const hover = page.locator('.monaco-hover', { hasText: 'Strongest induction head' });
      await hover.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT });
      const imgs = await hover.first().locator('img').count();
      if (imgs < 1) throw new Error('the checkpoint hover has no attention thumbnail');
      await screenshot('new-run-checkpoint-hover');
    });

    await step('the attention panel draws all 16 heads', async () => {
      await page.mouse.move(700, 450);
      await palette('Induction Lab: Show Attention Patterns');
      const f = await webviewFrame('svg[aria-label="Attention patterns, layers by heads"]', 60_000);
      const heads = f.locator('[aria-label^="Layer "][aria-label*=" head "]');
      const t0 = Date.now();
      while ((await heads.count()) < 16 && Date.now() - t0 < 60_000) await page.waitForTimeout(500);
      const n = await heads.count();
      if (n !== 16) throw new Error(`expected 16 head heatmaps, found ${n}`);
      await screenshot('attention-panel');
    });

    // The views' own steps (hit-testing, restored panels, layout, themes): ui-views-pass.mjs.
    await runViewsSteps({ page, step, screenshot, workspace, pass });
  } finally {
    await context.close().catch(() => {});
  }
  return result;
}

function firstLine(err) {
  // Playwright's message: "locator.waitFor: Timeout …" then a call log naming the locator.
  // eslint-disable-next-line no-control-regex
  const msg = (err instanceof Error ? err.message : String(err)).replace(/\x1b\[[0-9;]*m/g, '');
  return msg.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 3).join(' — ') || msg;
}
