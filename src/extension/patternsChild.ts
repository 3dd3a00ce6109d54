/**
 * The attention view's patterns, computed by `induction-lab patterns` in a child process that the run manager
 * forks (the model and TensorFlow.js never load in the extension host). No vscode import: unit-testable.
 */
import type { AttentionPatterns, RequestPatternsMessage } from '../shared/webviewProtocol';
import type { CliRunner } from './runManager';

/** The CLI arguments for a request (the value of --custom is attached with '=' so it can never read as a flag). */
type What = Pick<RequestPatternsMessage, 'mode' | 'evalSet' | 'sequenceIndex' | 'custom'>;

export function patternsArgs(runDir: string, checkpoint: number | null, m: What): string[] {
  const args = ['patterns', runDir, '--mode', m.mode];
  if (checkpoint !== null) args.push('--checkpoint', String(checkpoint));
  if (m.custom !== undefined && m.mode === 'single') args.push(`--custom=${m.custom}`);
  else {
    if (m.evalSet) args.push('--eval-set', m.evalSet);
    if (m.mode === 'single' && m.sequenceIndex !== undefined) args.push('--sequence', String(m.sequenceIndex));
  }
  return args;
}

/** Whether the checkpoint summary (written at save time) already holds what is asked: fsl_train #0. */
export function summaryAnswers(m: What): boolean {
  return (
    m.mode === 'single' &&
    m.custom === undefined &&
    (m.evalSet ?? 'fsl_train') === 'fsl_train' &&
    (m.sequenceIndex ?? 0) === 0
  );
}

export interface PatternsJob {
  done: Promise<Omit<AttentionPatterns, 'runId'>>;
  kill(): void;
}

/** Runs `patterns ARGS` through the run manager (the extension's one way to fork); resolves with its JSON. */
export function runPatternsChild(runner: CliRunner, args: string[]): PatternsJob {
  const job = runner.runCli(args);
  const done = job.done.then(({ code, killed, stdout, stderr }) => {
    if (killed) throw new Error('superseded');
    if (code !== 0) {
      const last = stderr
        .trim()
        .split('\n')
        .pop()
        ?.replace(/^induction-lab: /, '');
      throw new Error(last || `patterns exited with code ${code}`);
    }
    try {
      return JSON.parse(stdout) as Omit<AttentionPatterns, 'runId'>;
    } catch (e) {
      throw new Error(`patterns printed no JSON: ${(e as Error).message}`);
    }
  });
  return { done, kill: job.kill };
}
