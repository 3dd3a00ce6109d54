import { tf, initBackend } from '../src/engine/tf';
import { loadTaskData } from '../src/engine/data';
import { initParams } from '../src/engine/model/params';
import { TfWeights, batchInputs } from '../src/engine/model/tfModel';
import { forward, crossEntropy } from '../src/engine/model/forward';
import { DEFAULT_MODEL_CONFIG } from '../src/engine/model/config';
import { Rng } from '../src/engine/rng';
import { TaskData } from '../src/engine/data';
(async () => {
  await initBackend((process.argv[2] ?? 'wasm') as 'wasm');
  const task = await loadTaskData(TaskData.DEFAULT_DATA_CONFIG);
  const c = DEFAULT_MODEL_CONFIG;
  const p = initParams(c, 5);
  const w = new TfWeights(c, p);
  const vars = Object.values(w.vars);
  const batch = task.sampleBatch(new Rng(0, 1), 32);
  const time = (name: string, f: () => void, n = 50) => { for (let i = 0; i < 5; i++) f(); const t = performance.now(); for (let i = 0; i < n; i++) f(); console.log(name, ((performance.now() - t) / n).toFixed(2), 'ms'); };
  time('inputs', () => tf.tidy(() => { batchInputs(task.bank, batch); }));
  time('forward', () => tf.tidy(() => { const i = batchInputs(task.bank, batch); forward(c, w.weights, i).logits.dataSync(); }));
  time('grad', () => tf.tidy(() => { const i = batchInputs(task.bank, batch); const t = tf.tensor1d(Int32Array.from({length:32},(_, b)=>batch.labels[b*3+2]),'int32'); const {value, grads} = tf.variableGrads(() => crossEntropy(forward(c, w.weights, i).logits, t), vars); for (const g of Object.values(grads)) g.dataSync(); }));
  time('assign', () => w.assign(p));
  const prof = await tf.profile(() => tf.tidy(() => { const i = batchInputs(task.bank, batch); const t = tf.tensor1d(Int32Array.from({length:32},(_, b)=>batch.labels[b*3+2]),'int32'); const {grads} = tf.variableGrads(() => crossEntropy(forward(c, w.weights, i).logits, t), vars); for (const g of Object.values(grads)) g.dataSync(); }));
  console.log('kernels', prof.kernels.length);
  const agg = new Map<string, [number, number]>();
  for (const k of prof.kernels) { const a = agg.get(k.name) ?? [0, 0]; a[0]++; a[1] += (k.kernelTimeMs as number) || 0; agg.set(k.name, a); }
  console.log([...agg.entries()].sort((a, b) => b[1][1] - a[1][1]).slice(0, 15).map(([n, [c, t]]) => `${n} x${c} ${t.toFixed(2)}ms`).join('\n'));
})();
