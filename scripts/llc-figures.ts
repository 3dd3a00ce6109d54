/**
 * The figures of docs/llc.md from a run folder's LLC and essential-dynamics files:
 *   npx tsx scripts/llc-figures.ts RUN_DIR OUT_DIR [--title T] [--traces SEQUENCES] [--prefix P]
 * writes OUT_DIR/<prefix>development.svg (llc/as-trained/llc.json), the calibration grids, the SGLD traces of
 * one checkpoint and the essential-dynamics trajectory, when those files exist.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { calibrationSvg, developmentSvg, tracesSvg } from '../src/engine/llc/svg';
import { CalibrationCell, equilibrated } from '../src/engine/llc/calibrate';
import { dynamicsSvg } from '../src/engine/dynamics/svg';
import type { DynamicsFile, LlcCalibrationFile, LlcCheckpointFile, LlcRunFile } from '../src/shared/llc';

const [run, out] = process.argv.slice(2);
const flag = (k: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
if (!run || !out) {
  console.error('usage: llc-figures RUN_DIR OUT_DIR [--title T] [--traces SEQUENCES] [--prefix P]');
  process.exit(2);
}
const prefix = flag('prefix') ?? '';
fs.mkdirSync(out, { recursive: true });
const read = <T>(f: string): T | null => (fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as T) : null);
const dir = path.join(run, 'llc', 'as-trained');
const written: string[] = [];
const write = (name: string, svg: string) => {
  const f = path.join(out, prefix + name);
  fs.writeFileSync(f, svg);
  written.push(f);
};
const llc = read<LlcRunFile>(path.join(dir, 'llc.json'));
if (llc) write('development.svg', developmentSvg(llc, flag('title') ?? `LLC over training (${path.basename(run)})`));
const calDir = path.join(dir, 'calibration');
if (fs.existsSync(calDir)) {
  for (const f of fs.readdirSync(calDir).filter((x) => /^seq-\d+\.json$/.test(x))) {
    const c = read<LlcCalibrationFile>(path.join(calDir, f))!;
    // Files written before cells recorded `equilibrated`: recompute it from their fields.
    for (const x of c.cells) x.equilibrated ??= equilibrated(x as unknown as CalibrationCell);
    write(`calibration-${f.replace('.json', '.svg')}`, calibrationSvg(c));
  }
}
const tr = flag('traces');
if (tr) {
  const rec = read<LlcCheckpointFile>(path.join(dir, 'checkpoints', `seq-${tr}.json`));
  if (rec) write(`traces-seq-${tr}.svg`, tracesSvg(rec));
}
const ed = read<DynamicsFile>(path.join(run, 'dynamics', 'as-trained', 'dynamics.json'));
if (ed) write(`dynamics${ed.features.includes('patterns') ? '-patterns' : ''}.svg`, dynamicsSvg(ed));
console.log(written.join('\n'));
