// `npm run test:unit`: node:test's runner over test/unit/*.test.ts, two files at a time, each in its own process
// with this process's preloads (package.json: tsx/cjs, the tests' TensorFlow.js gradients bundle). Two things
// `node --test` cannot do:
// - the engine bundles are made fresh first (unit-bundles.mjs) and named in INDUCTION_LAB_BUNDLES, so the CLI
//   processes, training children and worker threads the tests start load a bundle instead of compiling the
//   engine under tsx;
// - the files that took longest in the last run start first (node --test sorts files by name): a long file that
//   starts last keeps one core busy alone at the end. The durations are kept in the bank cache's folder; files
//   without one (new files, a fresh machine) start first, by name.
//
//   npm run test:unit                 every file
//   npm run test:unit -- cli faults   only these files (names with or without .test.ts)
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { freshBundles } from './unit-bundles.mjs';

const root = join(import.meta.dirname, '..');
const dir = join(root, 'test/unit');
const CONCURRENCY = 2;

const all = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .sort();
const only = process.argv.slice(2).map((a) => a.replace(/^.*\//, '').replace(/(\.test\.ts)?$/, '.test.ts'));
const unknown = only.filter((f) => !all.includes(f));
if (unknown.length) {
  console.error(`run-unit: no test file ${unknown.map((f) => `test/unit/${f}`).join(', ')}`);
  process.exit(2);
}

const cacheEnv = process.env.INDUCTION_LAB_CACHE;
const cacheDir = cacheEnv === 'off' ? null : cacheEnv ? resolve(cacheEnv) : join(tmpdir(), 'induction-lab-cache');
const durationsFile = cacheDir && join(cacheDir, 'unit-test-durations.json');
/** Seconds per file name in the last run that ran it (top-level tests' durations summed). */
let last = {};
try {
  if (durationsFile) last = JSON.parse(readFileSync(durationsFile, 'utf8'));
} catch {
  // none yet, or unreadable: every file counts as new
}
const known = (f) => typeof last[f] === 'number';
const files = (only.length ? only : all)
  .slice()
  .sort((a, b) => Number(known(a)) - Number(known(b)) || (last[b] ?? 0) - (last[a] ?? 0) || a.localeCompare(b));

const bundles = freshBundles(root);
if (bundles) process.env.INDUCTION_LAB_BUNDLES = bundles;

const seconds = {};
const stream = run({ files: files.map((f) => join(dir, f)), concurrency: CONCURRENCY });
const count = (d) => {
  if (d.nesting === 0 && d.file) {
    const f = d.file.replace(/^.*\//, '');
    seconds[f] = (seconds[f] ?? 0) + (d.details?.duration_ms ?? 0) / 1000;
  }
};
stream.on('test:pass', count);
stream.on('test:fail', (d) => {
  count(d);
  process.exitCode = 1;
});
stream.on('end', () => {
  if (!durationsFile) return;
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${durationsFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...last, ...seconds }, null, 1) + '\n');
    renameSync(tmp, durationsFile);
  } catch {
    // the order is only an optimisation
  }
});
stream.compose(new spec()).pipe(process.stdout);
