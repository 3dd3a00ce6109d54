/**
 * One quick-pick step of a multi-step flow, built on createQuickPick so the focused item is the one the
 * step shows as its default (`picked` in showQuickPick only works for multi-select pickers, so Enter used to
 * take the first row), with an optional Back button. Resolves with the accepted item(s), BACK, or undefined
 * when the user pressed Escape.
 */
import * as vscode from 'vscode';

export const BACK = Symbol('back');
export type Back = typeof BACK;

/** A row, or a separator row (`separator: 'Title'`) that cannot be picked. */
export type Row<T extends vscode.QuickPickItem> = T | { separator: string };

export interface StepOptions<T extends vscode.QuickPickItem> {
  title: string;
  placeholder?: string;
  rows: Array<Row<T>>;
  /** The row focused when the step opens (single select): Enter accepts it. */
  active?: T;
  /** Rows checked when the step opens (multi-select). */
  selected?: T[];
  canSelectMany?: boolean;
  back?: boolean;
  matchOnDetail?: boolean;
  matchOnDescription?: boolean;
  /** Accepting one of these rows keeps the step open (an information row). */
  inert?: (item: T) => boolean;
}

function toItems<T extends vscode.QuickPickItem>(rows: Array<Row<T>>): Array<T | vscode.QuickPickItem> {
  return rows.map((r) => ('separator' in r ? { label: r.separator, kind: vscode.QuickPickItemKind.Separator } : r));
}

export function pickStep<T extends vscode.QuickPickItem>(
  o: StepOptions<T> & { canSelectMany: true },
): Promise<T[] | Back | undefined>;
export function pickStep<T extends vscode.QuickPickItem>(o: StepOptions<T>): Promise<T | Back | undefined>;
export function pickStep<T extends vscode.QuickPickItem>(o: StepOptions<T>): Promise<T | T[] | Back | undefined> {
  const qp = vscode.window.createQuickPick<T | vscode.QuickPickItem>();
  qp.title = o.title;
  qp.placeholder = o.placeholder;
  qp.canSelectMany = o.canSelectMany ?? false;
  qp.matchOnDetail = o.matchOnDetail ?? false;
  qp.matchOnDescription = o.matchOnDescription ?? false;
  qp.ignoreFocusOut = true;
  qp.items = toItems(o.rows);
  if (o.canSelectMany && o.selected) qp.selectedItems = o.selected;
  // Set after the items: VS Code focuses the first row when the items change.
  if (o.active) qp.activeItems = [o.active];
  if (o.back) qp.buttons = [vscode.QuickInputButtons.Back];
  return new Promise((resolve) => {
    let settled = false;
    const done = (v: T | T[] | Back | undefined) => {
      if (settled) return;
      settled = true;
      resolve(v);
      qp.hide();
    };
    qp.onDidTriggerButton((b) => {
      if (b === vscode.QuickInputButtons.Back) done(BACK);
    });
    const accept = (retry: boolean) => {
      if (o.canSelectMany) {
        done([...qp.selectedItems] as T[]);
        return;
      }
      const item = (qp.selectedItems[0] ?? qp.activeItems[0]) as T | undefined;
      // Enter right after typing can arrive before the filtered list's active row does: look again shortly.
      if (!item) {
        if (retry) setTimeout(() => accept(false), 150);
        return;
      }
      if (o.inert?.(item)) return;
      done(item);
    };
    qp.onDidAccept(() => accept(true));
    qp.onDidHide(() => {
      done(undefined);
      qp.dispose();
    });
    qp.show();
  });
}
