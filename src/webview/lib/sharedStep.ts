/**
 * The one shared step of an animated over-training view (influence, path patching, LLC): the selected
 * checkpoint kept in the view's saved state (`step`, getState/setState; null = follow the latest), its
 * slider with Play, what the view posts when the user picks a checkpoint (`selectStep`, throttled while
 * dragging) and what it does on the host's broadcast `step`. Each view only says how to redraw.
 */
import type { ToWebviewMessage, ViewName } from '../../shared/webviewProtocol';
import { connect, createStepSharer, handleCommon } from './host';
import { createStepSlider, type StepSlider } from './slider';

/** The part of the view's persisted state (lib/state.ts) this owns. */
export interface StepState {
  readonly value: { step: number | null };
  update(patch: { step: number | null }): void;
}

export interface StepFollowerOptions {
  /** The run the view shows ('' before one is known); only its broadcast steps are followed. */
  runId: () => string;
  /** Redraws what depends on the step. */
  render: () => void;
  /** Moves the slider's thumb without calling back. */
  move: (sequences: number | null) => void;
  /** Tells the host (createStepSharer). */
  share: (sequences: number | null, final: boolean) => void;
}

export interface StepFollower {
  /** The user chose `x` here (slider, a click on a curve): saved, drawn, shared; `final` is false while dragging. */
  chosen(x: number | null, final: boolean): void;
  /** As `chosen`, and the thumb follows (the choice was not made on the slider). */
  pick(x: number | null, final?: boolean): void;
  /** Handles the host's broadcast `step`: true when `m` was one (adopted if it is this run's and new). */
  handle(m: ToWebviewMessage): boolean;
}

/** What the shared step does, without the DOM (unit-tested). */
export function followStep(state: StepState, o: StepFollowerOptions): StepFollower {
  const chosen = (x: number | null, final: boolean) => {
    state.update({ step: x });
    o.render();
    o.share(x, final);
  };
  return {
    chosen,
    pick(x, final = true) {
      o.move(x);
      chosen(x, final);
    },
    handle(m) {
      if (m.type !== 'step') return false;
      if (m.runId === o.runId() && m.sequences !== state.value.step) {
        state.update({ step: m.sequences });
        o.move(m.sequences);
        o.render();
      }
      return true;
    },
  };
}

export interface SharedStep extends Pick<StepFollower, 'pick'> {
  readonly slider: StepSlider;
  /**
   * Attaches the view's message handler after the messages every view handles alike (lib/host.ts
   * handleCommon) and the broadcast step, then posts `ready` with the restored run and step.
   */
  connect(
    view: ViewName,
    onMessage: (m: ToWebviewMessage) => void,
    setStatus: (text: string, level?: 'info' | 'warning' | 'error') => void,
  ): void;
}

/** Appends the checkpoint slider (with Play every `playMs`) to `parent` and wires it to the shared step. */
export function createSharedStep(
  parent: HTMLElement,
  state: StepState,
  o: { runId: () => string; render: () => void; playMs: number },
): SharedStep {
  const share = createStepSharer(() => o.runId() || undefined);
  const follower = followStep(state, { runId: o.runId, render: o.render, share, move: (x) => slider.setValue(x) });
  const slider = createStepSlider(parent, {
    label: 'Checkpoint (sequences seen)',
    follow: true,
    play: true,
    playMs: o.playMs,
    onChange: follower.chosen,
  });
  return {
    slider,
    pick: follower.pick,
    connect(view, onMessage, setStatus) {
      connect(
        view,
        (m) => {
          if (!handleCommon(m, setStatus) && !follower.handle(m)) onMessage(m);
        },
        { runId: o.runId() || undefined, step: state.value.step },
      );
    },
  };
}
