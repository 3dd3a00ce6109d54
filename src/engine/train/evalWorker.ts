/**
 * Worker-thread entry of the evaluation thread (evalThread.ts): holds the run's eval sets (with the host
 * arrays the parent made from the feature bank) and its own fast model, and evaluates each parameter copy
 * it is sent exactly as the trainer's engine would (FastEngine.evalForward: the one forward interface on
 * the fast engine, the run's clamps at the evaluation's sequence count).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Forward } from '../forward';
import { Params } from '../model/params';
import { Batch } from '../data';
import { HostBatch } from '../model/hostBatch';
import { sharedFastModel } from '../fast/pool';
import { mixesSequences } from '../clamps/support';
import { EvalForward, EvalSet, evaluate, evaluationBatches } from './evaluate';
import type { EvalWorkerData, FromEvalWorker, ToEvalWorker } from './evalThread';

const { port, signal } = workerData as EvalWorkerData;
const flag = new Int32Array(signal);
void parentPort; // the channel is workerData.port: the parent reads it with receiveMessageOnPort

function send(m: FromEvalWorker): void {
  port.postMessage(m);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
process.on('exit', () => {
  Atomics.store(flag, 0, 2);
  Atomics.notify(flag, 0);
});

let run: {
  init: Extract<ToEvalWorker, { type: 'init' }>;
  hosts: Map<Batch, HostBatch>;
  forward: Forward;
  params: Params;
  train: EvalSet[];
  /** Each eval set in a batch of its own (a clamp mixes a batch's sequences: evaluate.ts). */
  setsApart: boolean;
} | null = null;

port.on('message', (m: ToEvalWorker) => {
  try {
    if (m.type === 'init') {
      // The training engine's build (its rounding); V8's flags, relaxed SIMD's among them, are the process's.
      const model = sharedFastModel(m.config, m.variant);
      const setsApart = mixesSequences(m.clamps);
      const batches = evaluationBatches(m.sets, setsApart);
      const params: Params = {};
      for (const [k, v] of Object.entries(model.paramViews())) params[k] = new Float32Array(v.length);
      run = {
        init: m,
        hosts: new Map(batches.map((b, i) => [b, m.hosts[i]])),
        // One Forward for the run: its constant-clamp overrides persist across evaluations, as the engine's do.
        forward: new Forward(m.config, { params }, { engine: 'fast' }),
        params,
        train: m.sets.filter((e) => e.spec.name === 'fsl_train'),
        setsApart,
      };
      send({ type: 'ready', variant: model.variant });
      return;
    }
    if (!run) throw new Error(`"${m.type}" before "init"`);
    const r = run;
    const forward = (sequences: number): EvalForward => {
      r.forward.parametersChanged();
      return (batch, want) => r.forward.run(r.hosts.get(batch)!, r.init.clamps, { sequences, ...want });
    };
    if (m.type === 'eval') {
      for (const k of Object.keys(r.params)) r.params[k].set(m.params[k]);
      send({
        type: 'eval',
        sequences: m.sequences,
        result: evaluate(r.init.config, r.init.sets, forward(m.sequences), { setsApart: r.setsApart }),
      });
    } else {
      // The checkpoint summary's every-head patterns (trainer.ts saveCheckpoint): on the parameters sent, or
      // on the last evaluation's.
      if (m.params) for (const k of Object.keys(r.params)) r.params[k].set(m.params[k]);
      const result = evaluate(r.init.config, r.train, forward(m.sequences), { patterns: true });
      send({ type: 'summary', sequences: m.sequences, result });
    }
  } catch (e) {
    send({ type: 'error', message: ((e as Error).message ?? String(e)).split('\n')[0] });
  }
});
