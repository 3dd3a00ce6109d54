/**
 * How a process of the engine stops. SIGINT (Ctrl-C), SIGTERM (`kill`, Slurm's scancel, time limit and
 * preemption, the extension's Stop) and SIGHUP (a closed terminal or SSH session) all ask for a clean
 * stop: finish the current step, save a checkpoint, record "cancelled". A second Ctrl-C aborts at once.
 * A process stopped by a signal exits with 128 + its number, as a shell reports a signal-killed command,
 * so `train … && next` does not go on after a cancel.
 */

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];
const NUMBER: Record<StopSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

export interface StopState {
  /** The first stop signal received, or null. */
  readonly signal: StopSignal | null;
  /** 128 + the signal's number once one arrived. */
  readonly exitCode: number | undefined;
}

/**
 * Installs the stop handlers. `onStop` runs once, at the first signal; a second SIGINT exits with 130
 * (process.exit runs 'exit' handlers, which release run locks). Other repeated signals are ignored: the
 * stop is already on its way, and Slurm follows up with SIGKILL if it takes too long.
 */
export function onStopSignals(onStop: (signal: StopSignal) => void): StopState {
  let first: StopSignal | null = null;
  for (const sig of STOP_SIGNALS) {
    process.on(sig, () => {
      if (first === null) {
        first = sig;
        onStop(sig);
        return;
      }
      if (sig === 'SIGINT') process.exit(128 + NUMBER.SIGINT);
    });
  }
  return {
    get signal() {
      return first;
    },
    get exitCode() {
      return first ? 128 + NUMBER[first] : undefined;
    },
  };
}

/**
 * Keeps a process alive when its stdout or stderr goes away (a closed terminal: EIO; a dead parent or
 * `| head`: EPIPE): what is lost is a progress line, not the run.
 */
export function survivePipes(): void {
  for (const s of [process.stdout, process.stderr])
    s.on('error', () => {
      /* the reader is gone */
    });
}

/** Writes to stderr, ignoring a stderr that is gone. */
export function say(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    /* the reader is gone */
  }
}
