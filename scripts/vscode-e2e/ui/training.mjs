// UI-pass section: a short run started from the palette trains in a child, the dashboard streams its
// curves, a checkpoint of the new run shows every head in its hover, the attention panel draws 16 heads.
import { STEP_TIMEOUT } from './helpers.mjs';

export async function training(ui) {
  const { page, step, sidebarRow, screenshot, palette, quickPick } = ui;
  await step(
    'palette "Start clamped run" → preset, clamps, confirm → the run trains and appears in the tree',
    async () => {
      await palette('Induction Lab: Start clamped run');
      await quickPick('preset', 'smoke');
      await screenshot('start-run-preset');
      await page.keyboard.press('Enter');
      // Step 2 is a multi-select of clamps: smoke has none of its own; add none, accept.
      await quickPick('clamps');
      await screenshot('start-run-clamps');
      await page.keyboard.press('Enter');
      await quickPick('confirm');
      await screenshot('start-run-confirm');
      const focused = await ui.focusedRow();
      if (!focused.includes('Start')) throw new Error(`the confirm step focuses "${focused}", not Start`);
      await page.keyboard.press('Enter');
      await sidebarRow('smoke').first().waitFor({ timeout: STEP_TIMEOUT });
      await screenshot('run-started');
    },
  );

  await step("the dashboard in the side panel shows the run's live loss curves", async () => {
    const f = await ui.webviewFrame('svg[aria-label="Per-head scores"]', 90_000);
    await f.locator('path.line').first().waitFor({ timeout: 90_000 });
    const t0 = Date.now();
    while (!(await f.locator('body').innerText()).includes('smoke')) {
      if (Date.now() - t0 > 60_000) throw new Error('the dashboard does not show the new run "smoke"');
      await page.waitForTimeout(500);
    }
    // Wait until the run finished (the tree shows "completed") so the checkpoints exist.
    await sidebarRow('smoke').filter({ hasText: 'completed' }).first().waitFor({ timeout: 180_000 });
    await page.waitForTimeout(1500);
    await screenshot('dashboard');
  });

  await step('hovering a checkpoint of the new run shows every head', async () => {
    await sidebarRow('smoke').first().click();
    await sidebarRow('seq 3,200').first().waitFor({ timeout: STEP_TIMEOUT });
    await page.mouse.move(700, 450);
    await sidebarRow('seq 3,200').first().locator('.label-name').hover();
    const hover = page.locator('.monaco-hover', { hasText: 'Strongest induction head' });
    await hover.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT });
    const imgs = await hover.first().locator('img').count();
    if (imgs < 1) throw new Error('the checkpoint hover has no attention thumbnail');
    await screenshot('new-run-checkpoint-hover');
    await sidebarRow('smoke').first().click();
  });

  await step('the attention panel draws all 16 heads', async () => {
    await page.mouse.move(700, 450);
    await palette('Induction Lab: Show Attention Patterns');
    const f = await ui.webviewFrame('svg[aria-label="Attention patterns, layers by heads"]', 60_000);
    const heads = f.locator('[aria-label^="Layer "][aria-label*=" head "]');
    const t0 = Date.now();
    while ((await heads.count()) < 16 && Date.now() - t0 < 60_000) await page.waitForTimeout(500);
    const n = await heads.count();
    if (n !== 16) throw new Error(`expected 16 head heatmaps, found ${n}`);
    await screenshot('attention-panel');
  });
}
