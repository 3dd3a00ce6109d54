/**
 * Worker-thread entry of the LLC pool (pool.ts): runs the jobs it is sent with its own JobRunner (its own
 * WebAssembly memories), reports steps for progress, and stops a job between steps when the shared stop
 * flag is set.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { enableRelaxedSimd } from '../fast/relaxedSimd';
import { JobRunner, LlcJob } from './jobs';
import type { FromWorker } from './pool';

enableRelaxedSimd();
const stop = new Int32Array(workerData.stop as SharedArrayBuffer);
const runner = new JobRunner();
const port = parentPort!;

port.on('message', (job: LlcJob) => {
  let reported = 0;
  runner
    .execute(job, (steps) => {
      if (steps - reported >= 50) {
        port.postMessage({ type: 'steps', id: job.id, steps: steps - reported } satisfies FromWorker);
        reported = steps;
      }
      return Atomics.load(stop, 0) === 1;
    })
    .then(
      (result) => port.postMessage({ type: 'done', result } satisfies FromWorker),
      (e: Error) =>
        port.postMessage({ type: 'error', id: job.id, message: e.message.split('\n')[0] } satisfies FromWorker),
    );
});
