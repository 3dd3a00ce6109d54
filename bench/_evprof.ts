import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { resolvePreset } from '../src/engine/science/presets';
import { loadTaskData } from '../src/engine/data';
import { createEngine } from '../src/engine/train/engines';
import { initParams } from '../src/engine/model/params';
import { evaluate } from '../src/engine/train/evaluate';
import { site } from '../src/engine/model/sites';
(async () => {
  const name = process.argv[2] ?? 'perfect_l1_and_copy';
  const cfg = resolvePreset(`fig5b.${name}`, 'paper');
  const task = await loadTaskData(cfg.data);
  const e = await createEngine('auto', 'auto', cfg.model, task.bank, cfg.clamps, initParams(cfg.model, 5), null);
  const sets = task.evalSets(cfg.train.evalSeed);
  const cpu = (f: () => void) => { const c0 = process.cpuUsage(); f(); const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };
  for (let i = 0; i < 5; i++) evaluate(cfg.model, sets, e.evalForward(1000));
  const train = sets.filter((s) => s.spec.name === 'fsl_train'), rest = sets.filter((s) => s.spec.name !== 'fsl_train');
  const t = [], a = [], b = [];
  for (let i = 0; i < 15; i++) {
    t.push(cpu(() => evaluate(cfg.model, sets, e.evalForward(1000))));
    a.push(cpu(() => evaluate(cfg.model, train, e.evalForward(1000))));
    b.push(cpu(() => evaluate(cfg.model, rest, e.evalForward(1000))));
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)].toFixed(1);
  console.log(`${name}: eval ${med(t)} ms; fsl_train alone ${med(a)} ms; the 3 logits-only sets ${med(b)} ms; clamps ${JSON.stringify(cfg.clamps.map(c=>c.kind))}`);
})();
