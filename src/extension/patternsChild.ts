/**
 * The attention view's patterns, computed by `induction-lab patterns` in a child process (the model and
 * TensorFlow.js never load in the extension host). No vscode import: unit-testable.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AttentionPatterns, RequestPatternsMessage } from '../shared/webviewProtocol';

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
  return m.mode === 'single' && m.custom === undefined && (m.evalSet ?? 'fsl_train') === 'fsl_train'
    && (m.sequenceIndex ?? 0) === 0;
}

export interface PatternsJob { done: Promise<Omit<AttentionPatterns, 'runId'>>; kill(): void }

/** Forks `cli` with `args`; resolves with its JSON, rejects with its last stderr line. */
export function runPatternsChild(cli: string, args: string[]): PatternsJob {
  let child: ChildProcess | undefined;
  let killed = false;
  const done = new Promise<Omit<AttentionPatterns, 'runId'>>((resolve, reject) => {
    child = fork(cli, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let out = '', err = '';
    child.stdout?.on('data', (d) => { out += d; });
    child.stderr?.on('data', (d) => { err = (err + d).slice(-4000); });
    child.on('error', (e) => reject(e));
    child.on('exit', (code) => {
      if (killed) { reject(new Error('superseded')); return; }
      if (code !== 0) {
        const last = err.trim().split('\n').pop()?.replace(/^induction-lab: /, '');
        reject(new Error(last || `patterns exited with code ${code}`));
        return;
      }
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`patterns printed no JSON: ${(e as Error).message}`));
      }
    });
  });
  return { done, kill: () => { killed = true; child?.kill('SIGTERM'); } };
}
