/**
 * "Induction Lab: Start clamped run": preset → clamps → confirm, as quick picks with Back buttons. Each step
 * focuses the default it shows (Enter, Enter, Enter trains the default preset with its own clamps), step 2
 * lists the preset's own clamps (checked; uncheck to drop), the confirm step lists one clamp per row with
 * its window and shows the engine's refusal or warnings inline. Returns the start message for the training
 * child, or undefined when the user backs out. Clamp choices produce the CLI's --clamp short forms.
 */
import * as vscode from 'vscode';
import { DEFAULT_PRESET, presetNames, resolvePreset } from '../engine/science/presets';
import { parseClampFlag, describeClamp, ClampSpec } from '../engine/clamps/spec';
import type { StartMessage } from '../shared/protocol';
import { BACK, Back, pickStep, Row } from './quickInput';
import {
  checkpointChoices,
  clampInputError,
  clampLines,
  focusName,
  groupPresets,
  headRole,
  judgeClamps,
  wrapText,
} from './startFlowModel';

const MODEL = { depth: 2, numHeads: 8, contextLen: 2 };
const heads = (layer: number) => Array.from({ length: 8 }, (_, h) => `L${layer}H${h}`);
const L1 = heads(1),
  L2 = heads(2);

/** The flow's step titles: tests and the UI pass find the steps by them. */
export const STEP_TITLES = {
  preset: 'Start clamped run (1/3): preset',
  clamps: 'Start clamped run (2/3): clamps',
  confirm: 'Start clamped run (3/3): confirm',
};

type Built = ClampSpec[] | Back | undefined;
interface ClampChoice extends vscode.QuickPickItem {
  build: (current: ClampSpec[]) => Promise<Built>;
  replacesL2Ablation?: boolean;
}
interface PresetClampItem extends vscode.QuickPickItem {
  clamp: ClampSpec;
}
type ClampRow = ClampChoice | PresetClampItem;

async function pickHead(
  list: string[],
  title: string,
  dflt: string,
  current: ClampSpec[],
): Promise<string | Back | undefined> {
  const items = list.map((h) => ({
    label: h,
    description: [h === dflt ? 'default' : '', headRole(h, current) ?? ''].filter(Boolean).join(' · ') || undefined,
  }));
  const r = await pickStep({
    title,
    placeholder: `Enter: ${dflt}`,
    rows: items,
    active: items.find((i) => i.label === dflt),
    back: true,
  });
  return r === BACK || r === undefined ? r : r.label;
}

async function pickStrength(title: string): Promise<number | undefined> {
  const v = await vscode.window.showInputBox({
    title,
    value: '1',
    prompt: 'Strength s in [0, 1] (1 = the perfect pattern)',
    ignoreFocusOut: true,
    validateInput: (t) => (/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(t.trim()) ? undefined : 'a number between 0 and 1'),
  });
  return v === undefined ? undefined : Number(v);
}

/** A head (Back/Escape pass through), then optionally a strength, then the clamp from its short form. */
async function headClamp(
  list: string[],
  title: string,
  dflt: string,
  current: ClampSpec[],
  form: (h: string, s?: number) => string,
  strengthTitle?: (h: string) => string,
): Promise<Built> {
  const h = await pickHead(list, title, dflt, current);
  if (h === BACK || h === undefined) return h;
  let s: number | undefined;
  if (strengthTitle) {
    s = await pickStrength(strengthTitle(h));
    if (s === undefined) return undefined;
  }
  return [parseClampFlag(form(h, s), MODEL)];
}

const CHOICES: ClampChoice[] = [
  {
    label: '$(circle-slash) Single induction head',
    detail: "keep one Layer-2 head, ablate the other seven (§4–5); replaces the preset's Layer-2 ablation",
    replacesL2Ablation: true,
    build: async (cur) => {
      const keep = await pickHead(L2, 'Keep which Layer-2 head?', 'L2H3', cur);
      return keep === BACK || keep === undefined ? keep : [{ kind: 'ablate', heads: L2.filter((h) => h !== keep) }];
    },
  },
  {
    label: '$(arrow-left) Previous-token pattern',
    detail: 'step 1: a Layer-1 head attends to the previous token',
    build: (cur) =>
      headClamp(
        L1,
        'Clamp which Layer-1 head?',
        'L1H2',
        cur,
        (h, s) => `prev-token:${h}@${s}`,
        (h) => `Previous-token strength for ${h}`,
      ),
  },
  {
    label: '$(target) Induction pattern (match)',
    detail: 'steps 1, 2, 3qk, 4 (subcircuits A+B): the query attends to the matching label',
    build: (cur) =>
      headClamp(
        L2,
        'Clamp which Layer-2 head?',
        'L2H3',
        cur,
        (h, s) => `induction:${h}@${s}`,
        (h) => `Induction strength for ${h} (plotted IS = 2s − 1)`,
      ),
  },
  {
    label: '$(layers) Layer 1 (perfect previous-token input)',
    detail: 'steps 1, 2: subcircuit A supplied',
    build: async () => [{ kind: 'layer1' }],
  },
  {
    label: '$(copy) Perfect copy',
    detail: "steps 3v, 5: subcircuit C supplied from a head's scores",
    build: (cur) => headClamp(L2, 'Copy from which Layer-2 head?', 'L2H3', cur, (h) => `copy:${h}`),
  },
  {
    label: '$(edit) Custom clamp…',
    detail: 'a CLI short form, e.g. ablate:L2H1,from=32000,until=64000',
    build: async () => {
      const t = await vscode.window.showInputBox({
        title: 'Clamp (CLI short form)',
        placeHolder: 'prev-token:L1H2@0.9,from=0,until=50000',
        ignoreFocusOut: true,
        validateInput: (v) => {
          try {
            parseClampFlag(v, MODEL);
            return undefined;
          } catch (e) {
            return clampInputError((e as Error).message);
          }
        },
      });
      return t ? [parseClampFlag(t, MODEL)] : undefined;
    },
  },
];

/** A whole-run ablation of Layer-2 heads only (what "Single induction head" replaces). */
const isL2Ablation = (c: ClampSpec) =>
  c.kind === 'ablate' && c.from === undefined && c.until === undefined && c.heads.every((h) => h.startsWith('L2'));

interface ConfirmRow extends vscode.QuickPickItem {
  action?: 'start' | 'back' | 'cancel' | 'schedule';
}

export async function startRunFlow(
  runsRoot: string,
  defaultPreset = DEFAULT_PRESET,
): Promise<StartMessage | undefined> {
  const presets = presetNames('fast');
  const groups = groupPresets(presets);
  const focus = focusName(
    presets.map((p) => p.name),
    defaultPreset,
  );
  let step: 'preset' | 'clamps' | 'confirm' = 'preset';
  let preset = focus ?? DEFAULT_PRESET;
  let base = resolvePreset(preset, 'fast');
  let kept: ClampSpec[] = [],
    added: ClampSpec[] = [];
  let dense = false;
  let lastChoices: ClampChoice[] = [];
  let entered = false;
  for (;;) {
    if (step === 'preset') {
      const rows: Array<Row<vscode.QuickPickItem>> = [];
      for (const g of groups) {
        rows.push({ separator: g.title });
        for (const p of g.presets)
          rows.push({
            label: p.name,
            description: p.name === defaultPreset ? '(default)' : undefined,
            detail: p.description,
          });
      }
      const items = rows.filter((r): r is vscode.QuickPickItem => !('separator' in r));
      const r = await pickStep({
        title: STEP_TITLES.preset,
        placeholder: `Enter: ${preset}`,
        rows,
        active: items.find((i) => i.label === preset),
        matchOnDetail: true,
      });
      if (r === undefined || r === BACK) return undefined;
      if (r.label !== preset || !entered) {
        preset = r.label;
        base = resolvePreset(preset, 'fast');
        kept = [...base.clamps];
        added = [];
        lastChoices = [];
        entered = true;
      }
      step = 'clamps';
    } else if (step === 'clamps') {
      const own: PresetClampItem[] = base.clamps.map((c) => ({ label: `$(pin) ${describeClamp(c)}`, clamp: c }));
      const rows: Array<Row<ClampRow>> = [
        ...(own.length ? [{ separator: `${preset}'s own clamps: uncheck to drop` }, ...own] : []),
        { separator: 'Add clamps' },
        ...CHOICES,
      ];
      const selected = [
        ...own.filter((o) => kept.includes(o.clamp)),
        ...CHOICES.filter((c) => lastChoices.includes(c)),
      ];
      const r = await pickStep<ClampRow>({
        title: `${STEP_TITLES.clamps} for ${preset}`,
        rows,
        selected,
        canSelectMany: true,
        back: true,
        placeholder: own.length
          ? `Enter: train ${preset} with its own clamps`
          : `Enter: train ${preset} without clamps`,
      });
      if (r === undefined) return undefined;
      if (r === BACK) {
        step = 'preset';
        continue;
      }
      const chosen = r.filter((x): x is ClampChoice => 'build' in x);
      let nextKept = r.filter((x): x is PresetClampItem => 'clamp' in x).map((x) => x.clamp);
      const more: ClampSpec[] = [];
      let backed = false;
      for (const c of chosen) {
        const b = await c.build([...nextKept, ...more]);
        if (b === undefined) return undefined;
        if (b === BACK) {
          backed = true;
          break;
        }
        if (c.replacesL2Ablation) nextKept = nextKept.filter((k) => !isL2Ablation(k));
        more.push(...b);
      }
      lastChoices = chosen;
      if (backed) continue;
      kept = nextKept;
      added = more;
      step = 'confirm';
    } else {
      const verdict = judgeClamps([...kept, ...added], base.model);
      const schedules = checkpointChoices(base.train);
      const sched = schedules[dense ? 1 : 0];
      const rows: Array<Row<ConfirmRow>> = [];
      let active: ConfirmRow;
      const t = base.train;
      if (verdict.clamps) {
        active = {
          label: '$(play) Start',
          action: 'start',
          description: `${preset}: lr ${t.lr}, ${t.sequences.toLocaleString('en-US')} sequences, batch ${t.batchSize}`,
        };
        rows.push(active);
      } else {
        rows.push({ separator: 'Refused by the engine' });
        wrapText(verdict.error!).forEach((line, i) =>
          rows.push({ label: `${i === 0 ? '$(error) ' : '      '}${line}` }),
        );
        active = { label: '$(arrow-left) Back to clamps', action: 'back' };
        rows.push(active);
      }
      // The schedule's rule can be long: the selectable row names the count, the rule follows wrapped (never cut off).
      rows.push({
        label: `$(history) Checkpoints: ${sched.count}`,
        description: 'select to switch',
        action: 'schedule',
      });
      for (const line of wrapText(sched.label)) rows.push({ label: `      ${line}` });
      if (verdict.warnings.length) {
        rows.push({ separator: 'Warnings' });
        for (const w of verdict.warnings)
          wrapText(w).forEach((line, i) => rows.push({ label: `${i === 0 ? '$(warning) ' : '      '}${line}` }));
      }
      const lines = clampLines(verdict.clamps ?? [...kept, ...added]);
      rows.push({ separator: `Clamps (${verdict.clamps ? verdict.clamps.length : kept.length + added.length})` });
      for (const l of lines) rows.push({ label: `$(pin) ${l}` });
      if (verdict.clamps) rows.push({ label: '$(arrow-left) Back to clamps', action: 'back' });
      rows.push({ label: 'Cancel', action: 'cancel' });
      const r = await pickStep<ConfirmRow>({
        title: STEP_TITLES.confirm,
        rows,
        active,
        back: true,
        inert: (i) => !i.action,
      });
      if (r === undefined || (r !== BACK && r.action === 'cancel')) return undefined;
      if (r === BACK || r.action === 'back') {
        step = 'clamps';
        continue;
      }
      if (r.action === 'schedule') {
        dense = !dense;
        continue;
      }
      const train = sched.train;
      return {
        type: 'start',
        preset,
        scale: 'fast',
        runsRoot,
        config: { clamps: verdict.clamps, ...(Object.keys(train).length ? { train } : {}) },
      };
    }
  }
}
