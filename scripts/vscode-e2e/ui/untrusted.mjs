// UI-pass section for a server with workspace trust enabled: the fixture folder opens in Restricted Mode,
// the extension still lists runs, and "Start clamped run" is refused with a clear message.
import { UI_RUN_LABEL } from '../fixture.mjs';
import { STEP_TIMEOUT } from './helpers.mjs';

export async function untrusted(ui) {
  const { page, step, sidebarRow, palette } = ui;
  await step('untrusted workspace: the workbench opens in Restricted Mode', async () => {
    await page.goto(ui.url, { timeout: 120_000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 120_000 });
    await page.locator('.statusbar', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: STEP_TIMEOUT });
    await page.locator('.part.activitybar a.action-label[aria-label="Induction Lab"]').click();
    await sidebarRow(UI_RUN_LABEL).first().waitFor({ timeout: STEP_TIMEOUT });
  });
  await step('untrusted workspace: "Start clamped run" is refused with a clear message', async () => {
    await palette('Induction Lab: Start clamped run');
    const text = await ui.notification('trusted workspace', STEP_TIMEOUT, 'untrusted-training-refused');
    if (!/only in a trusted workspace/.test(text)) throw new Error(`unexpected message: ${text}`);
  });
}
