// What every UI-pass section drives the workbench with: named steps (a failing step saves a screenshot,
// the browser console and names itself; later steps are skipped), screenshots, the command palette, quick
// picks, tree rows, webview frames, notifications (toasts, or the notification centre when the smoke-test
// driver hides toasts) and the colour theme (through the workspace's settings).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STEP_TIMEOUT = 45_000;

export function firstLine(err) {
  // Playwright's message: "locator.waitFor: Timeout …" then a call log naming the locator.
  // eslint-disable-next-line no-control-regex
  const msg = (err instanceof Error ? err.message : String(err)).replace(/\x1b\[[0-9;]*m/g, '');
  return (
    msg
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(0, 3)
      .join(' — ') || msg
  );
}

/**
 * @param {{ page: any, pass: string, resultsDir: string, toasts: boolean, server: any, workspace: string,
 *   consoleLines: string[], version: string }} o
 */
export function makeUi(o) {
  const { page, pass, resultsDir } = o;
  const result = { passed: [], failed: [] };
  let shot = 0;
  const ui = {
    ...o,
    result,
    screenshot: (name) =>
      page.screenshot({ path: join(resultsDir, `${pass}-${String(++shot).padStart(2, '0')}-${name}.png`) }),

    /** Runs one named step; after a failure the remaining steps are skipped (reported once). */
    async step(name, fn) {
      if (result.failed.length > 0) return;
      const t0 = Date.now();
      try {
        await fn();
        result.passed.push(name);
        console.log(`  ✔ [${pass}] ${name} (${Date.now() - t0} ms)`);
      } catch (err) {
        const slug = name
          .replace(/[^a-z0-9]+/gi, '-')
          .replace(/^-|-$/g, '')
          .toLowerCase()
          .slice(0, 80);
        const png = join(resultsDir, `${pass}-FAILED-${slug}.png`);
        await page.screenshot({ path: png }).catch(() => {});
        const log = join(resultsDir, `${pass}-code-server.log`); // copied by run.mjs with the server's logs
        writeFileSync(join(resultsDir, `${pass}-browser-console.log`), o.consoleLines.join('\n') + '\n');
        const message = `UI step "${name}" failed in the ${pass} pass: ${firstLine(err)} (screenshot ${png}, log ${log})`;
        result.failed.push({ step: name, error: message });
        console.log(`  ✖ [${pass}] ${name}\n    ${message}`);
      }
    },

    sidebarRow: (text) => page.locator('.part.sidebar .monaco-list-row', { hasText: text }),

    /**
     * Runs a command from the palette (F1), after taking focus back from any hover or webview. A webview that
     * takes the focus back right after F1 closes the palette (the quick input hides on blur): then the palette
     * is opened again, up to three times, before the step fails.
     */
    async palette(title) {
      const input = page.locator('.quick-input-widget input');
      const focused = page.locator('.quick-input-widget .monaco-list-row.focused').first();
      const label = async () => (await focused.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
      const exact = (t) => t === title || t.startsWith(`${title} `);
      for (let attempt = 1; ; attempt++) {
        try {
          await page.mouse.move(1000, 700);
          await page.keyboard.press('Escape');
          await page.waitForTimeout(300);
          // Blur any webview by clicking the title bar's empty left part: a click inside the editor area lands in
          // a webview when one is open there, and the webview takes the focus back a moment later, closing the
          // palette or the quick pick that follows it.
          const titlebar = page.locator('.part.titlebar').first();
          if (await titlebar.isVisible().catch(() => false)) {
            await titlebar.click({ position: { x: 250, y: 12 }, force: true });
          } else {
            await page
              .locator('.part.editor')
              .first()
              .click({ position: { x: 300, y: 300 }, force: true });
          }
          await page.keyboard.press('F1');
          const timeout = attempt < 3 ? 10_000 : STEP_TIMEOUT;
          await input.waitFor({ timeout });
          await input.fill(`>${title}`, { timeout });
          await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout });
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
          console.log(`    (palette closed before "${title}" was typed; opening it again: ${firstLine(err)})`);
        }
      }
      // The fuzzy match may focus a longer command first ("…Color Themes in Marketplace"): move to this one.
      for (let i = 0; i < 8 && !exact(await label()); i++) await page.keyboard.press('ArrowDown');
      if (!exact(await label())) throw new Error(`the palette does not reach "${title}" (focused: "${await label()}")`);
      await page.keyboard.press('Enter');
    },

    /**
     * Makes a palette command's picks (`fn`: palette, quick picks, up to but not the last Enter). A webview that
     * takes the focus back can close a picker right after it opens: then the whole pick is made again, up to
     * three times in all.
     */
    async retryPick(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          await fn();
          return;
        } catch (err) {
          if (attempt >= 3) throw err;
          console.log(`    (a picker closed before its pick; making the pick again: ${firstLine(err)})`);
          await page.keyboard.press('Escape');
        }
      }
    },

    /** Waits for a quick pick whose title/header has `text`; optionally types `pick` and waits for its row. */
    async quickPick(text, pick) {
      const input = page.locator('.quick-input-widget input');
      await page
        .locator('.quick-input-widget .quick-input-title, .quick-input-widget .quick-input-header', { hasText: text })
        .first()
        .waitFor({ timeout: STEP_TIMEOUT });
      if (pick !== undefined) {
        await input.fill(pick);
        // Wait until the filtered list focuses the row, so Enter accepts it (not the row focused before).
        await page
          .locator('.quick-input-widget .monaco-list-row.focused', { hasText: pick })
          .first()
          .waitFor({ timeout: STEP_TIMEOUT });
      }
    },

    /** In a multi-select quick pick: moves to the row containing `text` and checks it with Space (keyboard only). */
    async toggleRow(text) {
      // A multi-select list has no focused row until the arrow keys move into it. A picker opened right after
      // another one closed can leave the keyboard focus in the editor (a webview): give it to the input first.
      const focused = page.locator('.quick-input-widget .monaco-list-row.focused');
      const input = page.locator('.quick-input-widget input');
      if (!(await input.evaluate((el) => el === document.activeElement).catch(() => false))) await input.focus();
      for (let i = 0; i < 16; i++) {
        await page.keyboard.press('ArrowDown');
        await focused.first().waitFor({ timeout: STEP_TIMEOUT });
        if ((await focused.first().innerText()).includes(text)) {
          await page.keyboard.press('Space');
          const row = '.quick-input-widget .monaco-list-row.focused';
          const checked = [
            `${row}[aria-checked="true"]`,
            `${row} [aria-checked="true"]`,
            `${row} .monaco-checkbox.checked`,
            `${row} input[type=checkbox]:checked`,
          ];
          await page.locator(checked.join(', ')).first().waitFor({ timeout: STEP_TIMEOUT });
          return;
        }
      }
      throw new Error(`no row "${text}" reached with the arrow keys`);
    },

    /** The text of the quick pick's focused row (what Enter accepts). */
    async focusedRow() {
      const row = page.locator('.quick-input-widget .monaco-list-row.focused').first();
      await row.waitFor({ timeout: STEP_TIMEOUT });
      return (await row.innerText()).replace(/\s+/g, ' ').trim();
    },

    /** Every row's text of the open quick pick (separators included), top to bottom as rendered. */
    async quickPickRows() {
      await page.locator('.quick-input-widget .monaco-list-row').first().waitFor({ timeout: STEP_TIMEOUT });
      return (await page.locator('.quick-input-widget .monaco-list-row').allInnerTexts()).map((t) =>
        t.replace(/\s+/g, ' ').trim(),
      );
    },

    /** The frame of a webview that holds `selector` (webviews are two nested iframes). */
    async webviewFrame(selector, timeout = STEP_TIMEOUT) {
      const t0 = Date.now();
      while (Date.now() - t0 < timeout) {
        for (const f of page.frames())
          if (
            await f
              .locator(selector)
              .count()
              .catch(() => 0)
          )
            return f;
        await page.waitForTimeout(500);
      }
      throw new Error(`no webview frame with ${selector}`);
    },

    /**
     * Waits for a notification containing `text`; returns its text. `shot` names a screenshot taken while it
     * shows. Leaves the notification centre closed.
     */
    async notification(text, timeout = STEP_TIMEOUT, shot) {
      if (o.toasts) {
        // Read without waiting (allInnerTexts): a toast that closes between a wait and a waiting read (a task
        // that ends quickly on a quiet machine) would leave that read hanging until its timeout.
        const toasts = page.locator('.notifications-toasts .notification-toast', { hasText: text });
        const t0 = Date.now();
        for (;;) {
          const seen = await toasts.allInnerTexts().catch(() => []);
          if (seen.length > 0) {
            if (shot) await ui.screenshot(shot);
            return seen[0].replace(/\s+/g, ' ');
          }
          if (Date.now() - t0 > timeout) throw new Error(`no notification toast with "${text}" after ${timeout} ms`);
          await page.waitForTimeout(100);
        }
      }
      const t0 = Date.now();
      for (;;) {
        await page.locator('[id="status.notifications"] a, [id="status.notifications"]').first().click();
        const row = page.locator('.notifications-center .monaco-list-row', { hasText: text }).first();
        try {
          await row.waitFor({ timeout: 3000 });
          if (shot) await ui.screenshot(shot);
          return (await row.innerText()).replace(/\s+/g, ' ');
        } catch (err) {
          if (Date.now() - t0 > timeout) throw err;
        } finally {
          await page.keyboard.press('Escape');
        }
      }
    },

    /**
     * Switches the colour theme through the workspace's settings (VS Code applies them live; the views' pass
     * does the same, and the theme picker's labels differ between VS Code versions), e.g. "Dark Modern",
     * "Light Modern", "Default High Contrast"; fails if the workbench does not switch.
     */
    async setTheme(theme) {
      const dir = join(o.workspace, '.vscode'),
        file = join(dir, 'settings.json');
      let settings = {};
      try {
        settings = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        /* none yet */
      }
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, JSON.stringify({ ...settings, 'workbench.colorTheme': theme }, null, 2) + '\n');
      // The workbench element carries the theme kind as a class: vs, vs-dark, hc-black, hc-light.
      const kind = /high contrast light/i.test(theme)
        ? 'hc-light'
        : /high contrast/i.test(theme)
          ? 'hc-black'
          : /light/i.test(theme)
            ? 'vs'
            : 'vs-dark';
      const t0 = Date.now();
      while (!(await page.evaluate((k) => document.querySelector('.monaco-workbench')?.classList.contains(k), kind))) {
        if (Date.now() - t0 > 20_000) throw new Error(`the workbench did not switch to ${theme} (${kind})`);
        await page.waitForTimeout(300);
      }
      await page.waitForTimeout(800);
    },
  };
  return ui;
}
