// UI-pass step of the edge view (issue 18), run at the end of the views' steps: "Show Path Patching over Training"
// on the fixture run, which has no path patching yet — the panel says so and offers the computation; then an
// aggregate in the engine's layout is written into the run folder (three checkpoints, known values) and the panel
// opened again draws the Q / K / V maps, a cell holding (and its tooltip showing) the file's value.
// No CLI task runs: the step takes seconds.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STEP_TIMEOUT } from './helpers.mjs';

const H = 8;
const heads = (l) => Array.from({ length: H }, (_, i) => `L${l}H${i}`);
const CORRUPTIONS = ['labels', 'prev-token', 'class'];
/** E[X][i][j] at checkpoint k under corruption c: distinct, so a cell read from the wrong place shows. */
const value = (k, c, x, i, j) => Number((-(k + 1) * 0.1 * (c + 1) - x * 0.01 - i * 0.001 + j * 0.0001).toFixed(6));
const matrix = (f) => Array.from({ length: H }, (_, i) => Array.from({ length: H }, (_, j) => f(i, j)));

/** `measures/path-patching-over-training-sub500.json` as the engine's writeSeries lays it out (series.ts). */
function writeAggregate(runDir, sequences) {
  const byCorruption = Object.fromEntries(
    CORRUPTIONS.map((name, c) => [
      name,
      {
        corruptLD: sequences.map(() => -1),
        exact: Object.fromEntries(
          ['q', 'k', 'v'].map((x, xi) => [x, sequences.map((_s, k) => matrix((i, j) => value(k, c, xi, i, j)))]),
        ),
        attribution: Object.fromEntries(['q', 'k', 'v'].map((x) => [x, sequences.map(() => null)])),
        attributionError: sequences.map(() => null),
      },
    ]),
  );
  const file = {
    format: 'induction-lab/measure-series-v1',
    measure: 'path-patching',
    unit: 'path-patching',
    formula: {},
    subsample: 500,
    denseSize: 78400,
    n: 500,
    created: new Date().toISOString(),
    sequences,
    files: sequences.map((s) => `measures/path-patching-seq-${s}-sub500.json`),
    missing: [],
    series: {
      senders: heads(1),
      receivers: heads(2),
      inputs: ['q', 'k', 'v'],
      corruptions: CORRUPTIONS,
      cleanLD: sequences.map(() => 1),
      strongestIH: sequences.map(() => null),
      strongestPTH: sequences.map(() => null),
      byCorruption,
    },
  };
  mkdirSync(join(runDir, 'measures'), { recursive: true });
  writeFileSync(join(runDir, 'measures', 'path-patching-over-training-sub500.json'), JSON.stringify(file));
}

export async function pathsSteps(ui) {
  const { page, step, palette, quickPick, screenshot } = ui;
  const name =
    'palette "Show Path Patching over Training" → the empty panel offers the computation; a written aggregate ' +
    'is drawn as Q/K/V maps and a hovered cell shows its value';
  await step(name, async () => {
    await page.mouse.move(700, 450);
    await ui.retryPick(async () => {
      await palette('Induction Lab: Show Path Patching over Training');
      await quickPick('Show path patching over training of', 'fixture run');
    });
    await page.keyboard.press('Enter');
    let f = await ui.webviewFrame('p.coverage-note', STEP_TIMEOUT);
    const note = f.locator('p.coverage-note');
    const t0 = Date.now();
    while (!/No path patching over training for this run yet/.test(await note.innerText())) {
      if (Date.now() - t0 > STEP_TIMEOUT) throw new Error(`the empty panel says "${await note.innerText()}"`);
      await page.waitForTimeout(300);
    }
    await f.locator('button', { hasText: 'Compute path patching over training' }).waitFor({ timeout: STEP_TIMEOUT });
    // The fixture run's checkpoints are 0, 500, 2000; the view starts at the latest (k = 2). The panel is opened
    // again after the file is written (the file watcher's delivery time varies with the machine's load).
    await palette('View: Close Editor');
    writeAggregate(join(ui.workspace, '.induction-lab', 'runs', 'fixture-run'), [0, 500, 2000]);
    await ui.retryPick(async () => {
      await palette('Induction Lab: Show Path Patching over Training');
      await quickPick('Show path patching over training of', 'fixture run');
    });
    await page.keyboard.press('Enter');
    f = await ui.webviewFrame('g.heatmap[aria-label^="K edges"]', STEP_TIMEOUT);
    const kMap = f.locator('g.heatmap[aria-label^="K edges"]');
    await kMap.waitFor({ timeout: STEP_TIMEOUT });
    const maps = await f.locator('g.heatmap').count();
    if (maps !== 3) throw new Error(`${maps} heat maps drawn, want Q, K and V`);
    // Row L2H3, column L1H1 of the K map under the matched corruption (K: prev-token, c = 1).
    const want = value(2, 1, 1, 3, 1);
    const cell = kMap.locator('g.cell').nth(3 * H + 1);
    const got = Number(await cell.locator('rect').getAttribute('data-value'));
    if (got !== want) throw new Error(`the K map's L2H3 × L1H1 cell holds ${got}, the file ${want}`);
    await cell.hover({ force: true });
    const tip = await f.locator('.tooltip').first().innerText();
    if (!tip.includes('L1H1→L2H3 · K') || !tip.includes(`exact E = ${want.toFixed(4)}`)) {
      throw new Error(`the tooltip says ${JSON.stringify(tip)}, want L1H1→L2H3 · K and exact E = ${want.toFixed(4)}`);
    }
    await screenshot('views-path-patching');
    await page.mouse.move(700, 450);
    // Clear the "compute it?" notification (a toast in the .vsix pass) so later sections read their own.
    await palette('Notifications: Clear All Notifications');
    await palette('View: Close Editor');
  });
}
