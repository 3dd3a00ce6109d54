/**
 * Runs LLC jobs (jobs.ts) on worker threads, one per core (each has its own fast-engine memory), or in
 * this thread when one worker is asked for. Progress is counted in SGLD steps; a stop request reaches
 * every running job between two steps through a shared flag, and the jobs return the draws they took.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { JobRunner, LlcJob, LlcJobResult } from './jobs';
import { startWorker } from '../io/workerThread';

export type FromWorker =
  | { type: 'steps'; id: number; steps: number }
  | { type: 'done'; result: LlcJobResult }
  | { type: 'error'; id: number; message: string };

/** SGLD steps a job takes (its chains × burn-in + draws × steps between draws). */
export function jobSteps(j: LlcJob): number {
  const o = j.options,
    chains = o.chainIds?.length ?? o.chains;
  return chains * (o.burnIn + o.draws * o.stepsBetweenDraws);
}

export interface PoolRunOptions {
  /** Called with the number of steps finished since the last call. */
  onSteps?: (steps: number) => void;
  shouldStop?: () => boolean;
}

export class LlcPool {
  readonly workers: number;
  private readonly inline: JobRunner | null;
  private readonly threads: Worker[] = [];
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));

  constructor(workers = os.availableParallelism()) {
    this.workers = Math.max(1, Math.floor(workers));
    this.inline = this.workers === 1 ? new JobRunner() : null;
  }

  private thread(i: number): Worker {
    if (!this.threads[i]) {
      const w = startWorker(__dirname, 'llc-worker.js', 'worker.ts', 'LLC worker', {
        workerData: { stop: this.stopFlag.buffer },
      });
      w.unref();
      this.threads[i] = w;
    }
    return this.threads[i];
  }

  async run(jobs: LlcJob[], o: PoolRunOptions = {}): Promise<LlcJobResult[]> {
    Atomics.store(this.stopFlag, 0, 0);
    if (this.inline) {
      const out: LlcJobResult[] = [];
      for (const j of jobs) {
        let last = 0;
        out.push(
          await this.inline.execute(j, (steps) => {
            if (steps - last >= 50) {
              o.onSteps?.(steps - last);
              last = steps;
            }
            return o.shouldStop?.() === true;
          }),
        );
        o.onSteps?.(jobSteps(j) - last);
        if (out[out.length - 1].cancelled) break;
      }
      return out;
    }
    const queue = [...jobs],
      results: LlcJobResult[] = [];
    const reported = new Map<number, number>();
    const poll = setInterval(() => {
      if (o.shouldStop?.()) Atomics.store(this.stopFlag, 0, 1);
    }, 100);
    try {
      await new Promise<void>((resolve, reject) => {
        let live = 0,
          failed = false;
        const next = (i: number): void => {
          if (failed) return;
          const job = Atomics.load(this.stopFlag, 0) ? undefined : queue.shift();
          if (!job) {
            if (live === 0) resolve();
            return;
          }
          live++;
          const w = this.thread(i);
          const onMsg = (m: FromWorker): void => {
            if (m.type === 'steps') {
              reported.set(m.id, (reported.get(m.id) ?? 0) + m.steps);
              o.onSteps?.(m.steps);
              return;
            }
            w.off('message', onMsg);
            w.off('error', onErr);
            live--;
            if (m.type === 'error') {
              failed = true;
              reject(new Error(m.message));
              return;
            }
            results.push(m.result);
            o.onSteps?.(jobSteps(job) - (reported.get(job.id) ?? 0));
            next(i);
          };
          const onErr = (e: Error): void => {
            failed = true;
            reject(e);
          };
          w.on('message', onMsg);
          w.on('error', onErr);
          w.postMessage(job);
        };
        for (let i = 0; i < Math.min(this.workers, queue.length); i++) next(i);
        if (queue.length === 0 && live === 0) resolve();
      });
    } finally {
      clearInterval(poll);
    }
    return results.sort((a, b) => a.id - b.id);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.terminate()));
    this.threads.length = 0;
  }
}
