/**
 * Processes for the end-to-end tests: the CLI and the training child (built bundle or source, see entryArgs), as
 * separate processes, so signals, exit codes, locks and pipes behave as they do for a user.
 */
import { spawn, spawnSync, fork, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FromChildMessage, ToChildMessage, MetricsRecord } from '../../src/shared/protocol';
import type { RunJson } from '../../src/engine/train/trainer';

export const ROOT = path.join(__dirname, '..', '..');
export const CLI_TS = path.join(ROOT, 'src/engine/cli.ts');
export const CHILD_TS = path.join(ROOT, 'src/engine/child.ts');

/** Newest modification time of the sources a bundle is built from (src/**, package.json). */
function newestSource(): number {
  let newest = fs.statSync(path.join(ROOT, 'package.json')).mtimeMs;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(path.join(ROOT, 'src'));
  return newest;
}

let sourceTime: number | null = null;
/**
 * How to start an engine entry point (`cli` or `child`) in a process: `npm run build`'s bundle `out/<name>.js`
 * when it is newer than every source file (it starts in ≈ 0.3 s of CPU; tsx compiles the engine again in every
 * process, ≈ 2.5 s), else the TypeScript source under tsx — so an edit is never tested through a stale bundle.
 * `npm run test:unit` builds out/ first when it is stale (scripts/unit-bundles.mjs) and names it in
 * INDUCTION_LAB_BUNDLES.
 */
export function entryArgs(name: 'cli' | 'child'): { file: string; execArgv: string[] } {
  // `npm run test:unit` (scripts/run-unit.mjs) has made out/ fresh and named it.
  const checked = process.env.INDUCTION_LAB_BUNDLES;
  if (checked) return { file: path.join(checked, `${name}.js`), execArgv: [] };
  const built = path.join(ROOT, 'out', `${name}.js`);
  if (fs.existsSync(built)) {
    sourceTime ??= newestSource();
    if (fs.statSync(built).mtimeMs >= sourceTime) return { file: built, execArgv: [] };
  }
  // The preload serves TensorFlow.js's gradients as one bundle (≈ 0.9 s of CPU less per process; see the file).
  const preload = ['--require', path.join(ROOT, 'test/unit/tfjsGradients.cjs')];
  return { file: name === 'cli' ? CLI_TS : CHILD_TS, execArgv: ['--import', 'tsx', ...preload] };
}

/** `node` arguments that run the CLI with `args` (see entryArgs). */
export function cliArgv(args: string[]): string[] {
  const e = entryArgs('cli');
  return [...e.execArgv, e.file, ...args];
}

export const tmpDir = (prefix = 'il-proc-'): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

export interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** Runs the CLI to the end. */
export function cliSync(args: string[], cwd = ROOT): Done {
  const r = spawnSync(process.execPath, cliArgv(args), { cwd, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

/** A CLI process in the background: its stderr so far, a wait for a line, and its end. */
export class CliProcess {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  readonly done: Promise<Done>;
  constructor(args: string[], cwd = ROOT) {
    this.proc = spawn(process.execPath, cliArgv(args), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d) => {
      this.out += d;
    });
    this.proc.stderr!.on('data', (d) => {
      this.err += d;
    });
    this.done = new Promise((resolve) =>
      this.proc.on('close', (code, signal) => resolve({ code, signal, out: this.out, err: this.err })),
    );
  }
  /** Resolves once stderr matches `re` (rejects if the process ends first or after `ms`). */
  waitFor(re: RegExp, ms = 120_000): Promise<void> {
    return waitUntil(
      () => re.test(this.err),
      ms,
      () => `no ${re} in stderr:\n${this.err}`,
      this.done,
    );
  }
}

/** Polls `cond` every 20 ms; rejects after `ms`, or when `ended` settles first. */
export function waitUntil(cond: () => boolean, ms: number, why: () => string, ended?: Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let over = false;
    void ended?.then(() => {
      if (!over && !cond()) {
        over = true;
        clearInterval(t);
        reject(new Error(`ended early: ${why()}`));
      }
    });
    const t0 = Date.now();
    const t = setInterval(() => {
      if (over) return;
      if (cond()) {
        over = true;
        clearInterval(t);
        resolve();
      } else if (Date.now() - t0 > ms) {
        over = true;
        clearInterval(t);
        reject(new Error(why()));
      }
    }, 20);
  });
}

/** The training child (src/engine/child.ts) with its messages and stderr. */
export class ChildRun {
  readonly proc: ChildProcess;
  readonly msgs: FromChildMessage[] = [];
  err = '';
  readonly done: Promise<Done>;
  constructor() {
    const child = entryArgs('child');
    this.proc = fork(child.file, [], {
      execArgv: child.execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.proc.stderr!.on('data', (d) => {
      this.err += d;
    });
    this.proc.on('message', (m: FromChildMessage) => this.msgs.push(m));
    this.done = new Promise((resolve) =>
      this.proc.on('close', (code, signal) => resolve({ code, signal, out: '', err: this.err })),
    );
  }
  send(m: ToChildMessage): void {
    this.proc.send(m);
  }
  waitFor(pred: (m: FromChildMessage) => boolean, ms = 120_000): Promise<void> {
    return waitUntil(
      () => this.msgs.some(pred),
      ms,
      () => `no such message; got ${this.msgs.map((m) => m.type).join(', ')}\n${this.err}`,
      this.done,
    );
  }
}

/** metrics.jsonl rows without the wall time (the only field that differs between equal runs). */
export function rowsOf(dir: string): Array<Omit<MetricsRecord, 'wallTime'>> {
  const text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l)
    .map((l) => {
      const { wallTime: _w, ...r } = JSON.parse(l) as MetricsRecord;
      return r;
    });
}

export const runJson = (dir: string): RunJson => JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
