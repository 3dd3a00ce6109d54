import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { loadTaskData } from './src/engine/data';
import { initParams } from './src/engine/model/params';
import { resolvePreset } from './src/engine/presets';
import { createEngine } from './src/engine/train/engines';
import { evaluate } from './src/engine/train/evaluate';
import { Rng } from './src/engine/rng';
const cpu = (f: () => void) => { const c0 = process.cpuUsage(); f(); const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };
(async () => {
  const name = process.argv[2] ?? 'noclamp';
  const cfg = resolvePreset(`fig5b.${name}`, 'paper');
  const task = await loadTaskData(cfg.data);
  const e = await createEngine('auto', 'auto', cfg.model, task.bank, cfg.clamps, initParams(cfg.model, 5), null);
  const sets = task.evalSets(cfg.train.evalSeed);
  const batches = Array.from({ length: 31 }, (_, i) => task.sampleBatch(new Rng(0, i + 1), 32));
  for (let w = 0; w < 3; w++) { evaluate(cfg.model, sets, e.evalForward(0)); for (const b of batches) e.step(b, 0, 1e-5); }
  const ev: number[] = [], tr: number[] = [], perSet: Record<string, number[]> = {};
  for (let r = 0; r < 10; r++) {
    ev.push(cpu(() => evaluate(cfg.model, sets, e.evalForward(0))));
    for (const s of sets) (perSet[s.spec.name] ??= []).push(cpu(() => evaluate(cfg.model, [s], e.evalForward(0))));
    tr.push(cpu(() => { for (const b of batches) e.step(b, 0, 1e-5); }));
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(name, e.engine, 'eval (4 sets) CPU ms', med(ev).toFixed(1), 'train 31 steps CPU ms', med(tr).toFixed(1), 'share', (100 * med(ev) / (med(ev) + med(tr))).toFixed(0) + '%',
    Object.entries(perSet).map(([k, v]) => `${k} ${med(v).toFixed(1)}`).join(' '));
})();
