/** The run line at the top of a view: run picker (when several), name (opens the run), status, meta, progress. */
import type { ClampSummary, RunSummary } from '../../shared/webviewProtocol';
import { h, button, selectBox } from './dom';
import { describeClamp, clampWindow, shortClamp } from './clampMarks';
import { fmtInt } from './format';

export interface RunHeader {
  root: HTMLElement;
  update(runs: RunSummary[], current: RunSummary | undefined, lastSequences?: number): void;
}

export function createRunHeader(
  parent: HTMLElement,
  o: { onPick: (runId: string) => void; onOpen: (runId: string) => void },
): RunHeader {
  const picker = selectBox('Run', [], '', o.onPick);
  let currentId = '';
  const name = button(
    '',
    'Open run',
    () => {
      if (currentId) o.onOpen(currentId);
    },
    'btn link',
  );
  const badge = h('span', { class: 'badge' });
  const meta = h('span', { class: 'meta' });
  const bar = h('div');
  const progress = h(
    'div',
    {
      class: 'progress',
      role: 'progressbar',
      'aria-label': 'Training progress',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
    },
    [bar],
  );
  const seqText = h('span', { class: 'meta' });
  const root = h('div', { class: 'run-header' }, [picker.root, name, badge, meta, progress, seqText]);
  parent.append(root);
  return {
    root,
    update(runs, run, lastSequences) {
      picker.root.style.display = runs.length > 1 ? '' : 'none';
      picker.setOptions(
        runs.map((r) => ({ value: r.id, label: r.name })),
        run?.id ?? '',
      );
      currentId = run?.id ?? '';
      name.textContent = run ? run.name : 'No run';
      name.disabled = !run;
      name.setAttribute('aria-label', run ? `Open run ${run.name}` : 'No run');
      badge.textContent = run?.status ?? '';
      badge.style.display = run ? '' : 'none';
      // Short clamp phrases keep the header to a line or two in a 300 px side bar; the full list is the tooltip.
      const clamps = run?.clamps.length
        ? `clamps: ${run.clamps.map((c) => shortClamp(c)).join('; ')}`
        : run
          ? 'no clamps'
          : '';
      meta.textContent = run
        ? [run.preset && `preset ${run.preset}`, clamps, run.engine].filter(Boolean).join(' · ')
        : '';
      const full = (c: ClampSummary) => `${describeClamp(c)}${clampWindow(c) ? ` ${clampWindow(c)}` : ''}`;
      meta.title = run?.clamps.length ? run.clamps.map(full).join('\n') : '';
      const pct =
        run && run.totalSequences > 0 && lastSequences !== undefined
          ? Math.min(100, (100 * lastSequences) / run.totalSequences)
          : 0;
      bar.style.width = `${pct}%`;
      progress.setAttribute('aria-valuenow', String(Math.round(pct)));
      progress.style.display = run ? '' : 'none';
      seqText.textContent = run ? `${fmtInt(lastSequences ?? 0)} / ${fmtInt(run.totalSequences)} sequences` : '';
    },
  };
}

/** Picks the run to show: a newly announced host choice, else the saved one if it still exists, else the first. */
export function chooseRun(
  runs: RunSummary[],
  saved: string,
  activeRunId: string | undefined,
  lastActive: string,
): { runId: string; lastActive: string } {
  if (activeRunId && activeRunId !== lastActive && runs.some((r) => r.id === activeRunId))
    return { runId: activeRunId, lastActive: activeRunId };
  if (runs.some((r) => r.id === saved)) return { runId: saved, lastActive: activeRunId ?? lastActive };
  return {
    runId: activeRunId && runs.some((r) => r.id === activeRunId) ? activeRunId : (runs[0]?.id ?? ''),
    lastActive: activeRunId ?? lastActive,
  };
}
