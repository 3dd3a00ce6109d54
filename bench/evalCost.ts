/**
 * What one training-time evaluation costs (issue 11): `evaluate` (train/evaluate.ts) alone on a run's four
 * fixed eval sets with the fast engine, as the trainer calls it every `evalEvery` sequences — the engine's
 * evalForward (which drops the clean-pass cache) and the metrics — N times after a warm-up; per condition the
 * minimum and median wall ms per evaluation and the CPU ms (user + system) per evaluation.
 *
 *   npx tsx bench/evalCost.ts [--preset fig5b.noclamp,fig5b.perfect_copy | --preset fig5b] [--scale paper]
 *                             [--clamps '<JSON clamp list>'] [--n 200] [--at 1000] [--patterns]
 *                             [--against DIR] [--cpu-prof [--top 30] [--cpu-prof-dir DIR]]
 *
 * --preset: comma-separated presets, `fig5b` = the six Fig 5b conditions (default fig5b.noclamp), at --scale
 *   (default paper: 1,000-sequence eval sets). --clamps replaces the presets by one clamp list on the paper
 *   settings. --at: the sequence count the clamps' windows see. --patterns: the checkpoint-summary variant.
 * --against DIR: another checkout of this repository (e.g. `git worktree add /tmp/base main`, with a
 *   node_modules link): its evaluate + engine run on the same eval sets and parameters, alternating with this
 *   tree's evaluation by evaluation (same process, same load), with the ratio of the minima; both must give
 *   bit-identical results (checked once per condition).
 * --cpu-prof: a V8 CPU profile of the timed evaluations only (node:inspector, the profiler behind node's
 *   --cpu-prof) and the top self-time list: JavaScript functions by name and file, WebAssembly summed,
 *   garbage collection, as % of the evaluations' sampled time. --cpu-prof-dir DIR also writes each condition's profile there
 *   (NAME.cpuprofile, for Chrome DevTools).
 */
import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import * as inspector from 'node:inspector';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTaskData } from '../src/engine/data';
import { initParams } from '../src/engine/model/params';
import { resolvePreset } from '../src/engine/science/presets';
import { fig5bConditions, Scale } from '../src/engine/science/conditions';
import { resolveRunConfig, RunConfig } from '../src/engine/train/runConfig';
import * as engines from '../src/engine/train/engines';
import * as evaluation from '../src/engine/train/evaluate';
import type { ClampSpec } from '../src/engine/clamps/spec';

const argv = process.argv.slice(2);
const value = (k: string) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : undefined;
};
const N = Number(value('--n') ?? 200);
const AT = Number(value('--at') ?? 1000);
const SCALE = (value('--scale') ?? 'paper') as Scale;
const PATTERNS = argv.includes('--patterns');
const PROFILE = argv.includes('--cpu-prof') || argv.includes('--cpu-prof-dir');
const TOP = Number(value('--top') ?? 30);
const AGAINST = value('--against');
const PROFILE_DIR = value('--cpu-prof-dir');

interface Tree {
  createEngine: typeof engines.createEngine;
  evaluate: typeof evaluation.evaluate;
}

function conditions(): Array<{ name: string; config: RunConfig }> {
  const clamps = value('--clamps');
  if (clamps) {
    const config = resolveRunConfig({ name: 'bench', clamps: JSON.parse(clamps) as ClampSpec[] });
    return [{ name: 'clamps', config }];
  }
  const names = (value('--preset') ?? 'fig5b.noclamp')
    .split(',')
    .flatMap((n) => (n === 'fig5b' ? fig5bConditions().map((c) => `fig5b.${c.name}`) : [n]));
  return names.map((name) => ({ name, config: resolvePreset(name, SCALE) }));
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[xs.length >> 1];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One tree's evaluation of a condition, ready to call. */
async function evaluator(tree: Tree, config: RunConfig, seed: number) {
  const task = await loadTaskData(config.data, config.model);
  const sets = task.evalSets(config.train.evalSeed);
  const params = initParams(config.model, seed);
  const engine = await tree.createEngine('fast', 'auto', config.model, task.bank, config.clamps, params, null);
  return () => tree.evaluate(config.model, sets, engine.evalForward(AT), { patterns: PATTERNS });
}

interface Profile {
  nodes: Array<{ id: number; children?: number[]; callFrame: { functionName: string; url: string } }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time by function within the evaluations (samples under `evaluate`, and garbage collection, which V8
 * books at the root): JavaScript by name and file (tsx's output has no useful lines), WebAssembly as one row.
 */
function selfTimes(p: Profile): Array<[string, number]> {
  const byId = new Map(p.nodes.map((n) => [n.id, n])),
    parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inEvaluate = new Map<number, boolean>();
  const under = (id: number): boolean => {
    let r = inEvaluate.get(id);
    if (r === undefined) {
      const f = byId.get(id)!.callFrame,
        up = parent.get(id);
      r = (f.functionName === 'evaluate' && f.url.endsWith('evaluate.ts')) || (up !== undefined && under(up));
      inEvaluate.set(id, r);
    }
    return r;
  };
  const self = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    if (f.functionName !== '(garbage collector)' && !under(id)) return;
    const key = f.url.startsWith('wasm://')
      ? '(WebAssembly)'
      : f.url
        ? `${f.functionName || '(anonymous)'}  ${path.relative(process.cwd(), f.url.replace('file://', ''))}`
        : f.functionName;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return [...self.entries()].sort((a, b) => b[1] - a[1]);
}

function post<T>(s: inspector.Session, method: string, params?: object): Promise<T> {
  return new Promise((res, rej) => s.post(method, params ?? {}, (e, r) => (e ? rej(e) : res(r as T))));
}

(async () => {
  const here: Tree = { createEngine: engines.createEngine, evaluate: evaluation.evaluate };
  let there: Tree | null = null;
  if (AGAINST) {
    const root = path.resolve(AGAINST, 'src', 'engine', 'train');
    const e = (await import(path.join(root, 'engines.ts'))) as typeof engines;
    const v = (await import(path.join(root, 'evaluate.ts'))) as typeof evaluation;
    there = { createEngine: e.createEngine, evaluate: v.evaluate };
  }
  console.log(
    `evaluate() × ${N} per condition (after a warm-up), fast engine, at ${AT} sequences${PATTERNS ? ', with patterns' : ''}`,
  );
  const rows: string[][] = [];
  for (const { name, config } of conditions()) {
    const size = config.data.evalSize;
    const a = await evaluator(here, config, 1);
    const b = there ? await evaluator(there, config, 1) : null;
    if (b && JSON.stringify(a()) !== JSON.stringify(b())) throw new Error(`${name}: results differ from ${AGAINST}`);
    for (let i = 0; i < Math.min(30, N); i++) {
      a();
      b?.();
    }
    let session: inspector.Session | null = null;
    if (PROFILE) {
      session = new inspector.Session();
      session.connect();
      await post(session, 'Profiler.enable');
      await post(session, 'Profiler.setSamplingInterval', { interval: 100 });
      await post(session, 'Profiler.start');
    }
    const ta: number[] = [],
      tb: number[] = [];
    let ca = 0,
      cb = 0;
    for (let i = 0; i < N; i++) {
      for (const [f, t, which] of [
        [a, ta, 0],
        [b, tb, 1],
      ] as const) {
        if (!f) continue;
        const c0 = cpuMs(),
          t0 = performance.now();
        f();
        t.push(performance.now() - t0);
        if (which === 0) ca += cpuMs() - c0;
        else cb += cpuMs() - c0;
      }
    }
    const row = [name, `${size}`, sorted(ta)[0].toFixed(2), median(ta).toFixed(2), (ca / N).toFixed(2)];
    if (b) {
      row.push(sorted(tb)[0].toFixed(2), median(tb).toFixed(2), (cb / N).toFixed(2));
      row.push((sorted(ta)[0] / sorted(tb)[0]).toFixed(3));
    }
    rows.push(row);
    if (session) {
      const { profile } = await post<{ profile: Profile }>(session, 'Profiler.stop');
      session.disconnect();
      if (PROFILE_DIR) {
        fs.mkdirSync(PROFILE_DIR, { recursive: true });
        fs.writeFileSync(path.join(PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
      }
      const list = selfTimes(profile),
        total = list.reduce((s, [, t]) => s + t, 0);
      console.log(
        `\n${name}: self time of the timed evaluations${b ? ' (both trees)' : ''}, ${(total / 1e3).toFixed(0)} ms`,
      );
      for (const [k, t] of list.slice(0, TOP)) console.log(`${((100 * t) / total).toFixed(1).padStart(6)} %  ${k}`);
    }
  }
  const head = ['condition', 'set size', 'min ms', 'median ms', 'CPU ms'];
  if (there) head.push('base min', 'base median', 'base CPU', 'min / base min');
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => ' --- |').join('')}`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}${there ? `; base: ${AGAINST}` : ''}`,
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
