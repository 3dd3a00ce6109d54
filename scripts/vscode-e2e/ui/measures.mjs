// UI-pass section (issue 11 part 3): "Compute Measures over Training" on the smoke run the training section
// made: pick the run and influence-matrix from the palette; the cancellable progress notification shows the
// CLI's counters ("checkpoints n/N", the measure's "n/264 configurations"); the aggregates are written.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const TITLE = 'measures over training of';

/** The run folders (directly under the runs root) with an influence-matrix aggregate. */
function aggregates(workspace) {
  const root = join(workspace, '.induction-lab', 'runs');
  const has = (d) => {
    try {
      return readdirSync(join(root, d, 'measures')).some((f) => f.startsWith('influence-matrix-over-training'));
    } catch {
      return false;
    }
  };
  try {
    return readdirSync(root).filter(has);
  } catch {
    return [];
  }
}

export async function measures(ui) {
  const { page, step, palette, quickPick, screenshot } = ui;
  const name =
    'palette "Compute Measures over Training" → run, measures → a notification with checkpoints n/N; aggregates';
  await step(name, async () => {
    const before = aggregates(ui.workspace).length;
    await ui.retryPick(async () => {
      await palette('Induction Lab: Compute Measures over Training');
      await quickPick('Compute measures over training of', 'smoke');
      await page.keyboard.press('Enter');
      await quickPick('Measures over training of');
      await ui.toggleRow('influence-matrix');
    });
    await screenshot('measures-picker');
    await page.keyboard.press('Enter');
    // The notification's message arrives with the CLI's first progress line and the notification closes when the
    // task ends, which on a quiet machine is a few seconds later: look at it often, without a waiting read that
    // a closing toast would leave hanging. Without toasts (the development pass) the notification is read from
    // the notification centre, and a short task can finish between two looks: there the aggregates are the
    // proof; the .vsix pass, whose toasts show, asserts the counter.
    const t0 = Date.now();
    let text = '';
    const finishedUnseen = () => !ui.toasts && aggregates(ui.workspace).length > before;
    const toasts = page.locator('.notifications-toasts .notification-toast', { hasText: TITLE });
    let shot = false;
    while (!/checkpoints \d+\/\d+/.test(text) && !finishedUnseen()) {
      if (Date.now() - t0 > 120_000) {
        throw new Error(`the notification never showed "checkpoints n/N" (last: "${text}")`);
      }
      if (ui.toasts) {
        const seen = (await toasts.allInnerTexts().catch(() => [])).map((t) => t.replace(/\s+/g, ' '));
        if (seen.length > 0) text = seen.find((t) => /checkpoints \d+\/\d+/.test(t)) ?? seen[0];
        if (seen.length > 0 && !shot) {
          shot = true;
          await screenshot('measures-over-training-notification');
        }
        if (!seen.length && aggregates(ui.workspace).length > before) {
          throw new Error(`the task finished but its notification never showed "checkpoints n/N" (last: "${text}")`);
        }
        await page.waitForTimeout(100);
        continue;
      }
      text = await ui.notification(TITLE, 3000, 'measures-over-training-notification').catch((err) => {
        if (Date.now() - t0 > 120_000) throw err;
        return '';
      });
    }
    console.log(`    notification: ${text || '(finished between two looks at the notification centre)'}`);
    if (!/Cancel/i.test(text) && ui.toasts) throw new Error(`the progress notification has no Cancel: ${text}`);
    while (aggregates(ui.workspace).length <= before) {
      if (Date.now() - t0 > 300_000) throw new Error('no measures/influence-matrix-over-training*.json after 5 min');
      await page.waitForTimeout(1000);
    }
    await page.waitForTimeout(500);
    await screenshot('measures-over-training-done');
  });
}
