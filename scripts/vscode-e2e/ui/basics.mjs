// UI-pass section: the workbench, the activity-bar container and runs tree with the fixture runs, the
// command palette, and a checkpoint's hover.
import { UI_CHECKPOINT_LABEL, UI_CHECKPOINT_LOSS, UI_RUN_LABEL } from '../fixture.mjs';
import { STEP_TIMEOUT } from './helpers.mjs';

export async function basics(ui) {
  const { page, step, sidebarRow, screenshot } = ui;
  await step('workbench loads', async () => {
    await page.goto(ui.url, { timeout: 120_000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
  });

  const container = page.locator('.part.activitybar a.action-label[aria-label="Induction Lab"]');
  await step('activity-bar container shows the runs tree', async () => {
    await container.waitFor({ timeout: STEP_TIMEOUT });
    await container.click();
    await page
      .locator('.part.sidebar .composite.title', { hasText: 'Induction Lab' })
      .waitFor({ timeout: STEP_TIMEOUT });
    // The icon can appear before the extension host is ready: real tree content proves it is.
    await sidebarRow(UI_RUN_LABEL).first().waitFor({ timeout: STEP_TIMEOUT });
    await sidebarRow('unnamed-run').first().waitFor({ timeout: STEP_TIMEOUT });
    await screenshot('runs-tree');
  });

  await step('command palette runs "Induction Lab: Show Engine Info"', async () => {
    // Focus the workbench (not a webview: keys typed there do not reach it) by clicking the empty editor area.
    await page
      .locator('.part.editor')
      .first()
      .click({ position: { x: 300, y: 300 }, force: true });
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
    await ui.notification(`Induction Lab ${ui.version}`);
    await screenshot('engine-info');
  });

  await step('run expands to its checkpoints (labels with digit grouping)', async () => {
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
}
