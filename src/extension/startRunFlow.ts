/**
 * "Induction Lab: Start clamped run": preset → clamps → confirm, as quick picks. Returns the start
 * message for the training child, or undefined when the user backs out. Clamp choices produce the same
 * clamp specs as the CLI's --clamp short forms (validated by the engine's parser before anything starts).
 */
import * as vscode from 'vscode';
import { presetNames } from '../engine/presets';
import { parseClampFlag, describeClamp, ClampSpec, normalizeClamps } from '../engine/clamps/spec';
import { DEFAULT_PRESET } from '../engine/train/runConfig';
import { resolvePreset } from '../engine/presets';
import type { StartMessage } from '../shared/protocol';

const MODEL = { depth: 2, numHeads: 8, contextLen: 2 };
const L1 = Array.from({ length: 8 }, (_, h) => `L1H${h}`), L2 = Array.from({ length: 8 }, (_, h) => `L2H${h}`);

interface ClampChoice extends vscode.QuickPickItem { build: () => Promise<ClampSpec[] | undefined> }

async function pickHead(heads: string[], title: string, dflt: string): Promise<string | undefined> {
  const p = await vscode.window.showQuickPick(heads.map((h) => ({ label: h, picked: h === dflt })), { title, placeHolder: dflt });
  return p?.label;
}

async function pickStrength(title: string): Promise<number | undefined> {
  const v = await vscode.window.showInputBox({
    title, value: '1', prompt: 'Strength s in [0, 1] (1 = the perfect pattern)',
    validateInput: (t) => (/^(0(\.\d+)?|1(\.0+)?)$/.test(t.trim()) ? undefined : 'a number between 0 and 1'),
  });
  return v === undefined ? undefined : Number(v);
}

const CHOICES: ClampChoice[] = [
  { label: '$(circle-slash) Single induction head', description: 'ablate every Layer-2 head but one (the paper\'s §4–5 models)', build: async () => {
    const keep = await pickHead(L2, 'Keep which Layer-2 head?', 'L2H3');
    return keep ? [{ kind: 'ablate', heads: L2.filter((h) => h !== keep) }] : undefined;
  } },
  { label: '$(arrow-left) Previous-token pattern', description: 'step 1: a Layer-1 head attends to the previous token', build: async () => {
    const h = await pickHead(L1, 'Clamp which Layer-1 head?', 'L1H2');
    const s = h ? await pickStrength(`Previous-token strength for ${h}`) : undefined;
    return h && s !== undefined ? [parseClampFlag(`prev-token:${h}@${s}`, MODEL)] : undefined;
  } },
  { label: '$(target) Induction pattern (match)', description: 'steps 1, 2, 3qk, 4: the head attends to the matching label (subcircuits A+B)', build: async () => {
    const h = await pickHead(L2, 'Clamp which Layer-2 head?', 'L2H3');
    const s = h ? await pickStrength(`Induction strength for ${h} (plotted IS = 2s − 1)`) : undefined;
    return h && s !== undefined ? [parseClampFlag(`induction:${h}@${s}`, MODEL)] : undefined;
  } },
  { label: '$(layers) Layer 1 (perfect previous-token input)', description: 'steps 1, 2: subcircuit A supplied', build: async () => [{ kind: 'layer1' }] },
  { label: '$(copy) Perfect copy', description: 'steps 3v, 5: subcircuit C supplied from a head\'s scores', build: async () => {
    const h = await pickHead(L2, 'Copy from which Layer-2 head?', 'L2H3');
    return h ? [{ kind: 'copy', head: h }] : undefined;
  } },
  { label: '$(edit) Custom clamp…', description: 'a CLI short form, e.g. ablate:L2H1,from=32000,until=64000', build: async () => {
    const t = await vscode.window.showInputBox({
      title: 'Clamp (CLI short form)', placeHolder: 'prev-token:L1H2@0.9,from=0,until=50000',
      validateInput: (v) => { try { parseClampFlag(v, MODEL); return undefined; } catch (e) { return (e as Error).message; } },
    });
    return t ? [parseClampFlag(t, MODEL)] : undefined;
  } },
];

export async function startRunFlow(runsRoot: string, defaultPreset = DEFAULT_PRESET): Promise<StartMessage | undefined> {
  const presets = presetNames('fast');
  const pick = await vscode.window.showQuickPick(
    presets.map((p) => ({ label: p.name, description: p.name === defaultPreset ? '(default)' : undefined, detail: p.description })),
    { title: 'Start clamped run (1/3): preset', placeHolder: defaultPreset, matchOnDetail: true },
  );
  if (!pick) return undefined;
  const base = resolvePreset(pick.label, 'fast');
  const chosen = await vscode.window.showQuickPick(CHOICES, { title: `Start clamped run (2/3): clamps to add to ${pick.label}`, canPickMany: true, placeHolder: 'none: train with the preset\'s clamps only' });
  if (!chosen) return undefined;
  const clamps: ClampSpec[] = [...base.clamps];
  for (const c of chosen) {
    const more = await c.build();
    if (!more) return undefined;
    clamps.push(...more);
  }
  let normalized: ClampSpec[];
  try { normalized = normalizeClamps(clamps, base.model); } catch (e) {
    void vscode.window.showErrorMessage(`Induction Lab: ${(e as Error).message}`);
    return undefined;
  }
  const summary = normalized.length ? normalized.map(describeClamp).join('; ') : 'no clamps';
  const ok = await vscode.window.showQuickPick([{ label: '$(play) Start', detail: `${pick.label}: lr ${base.train.lr}, ${base.train.sequences.toLocaleString('en-US')} sequences · ${summary}` }, { label: 'Cancel' }], { title: 'Start clamped run (3/3): confirm' });
  if (ok?.label !== '$(play) Start') return undefined;
  return { type: 'start', preset: pick.label, scale: 'fast', config: { clamps: normalized }, runsRoot };
}
