// The unit suite's cost per file: runs each test/unit/*.test.ts alone, as `npm run test:unit` loads it
// (node --require tsx/cjs --test), under /usr/bin/time, and prints a table sorted by CPU (user + system,
// child processes included), with the wall time a 2-slot runner would need at best (longest-first packing).
// CPU is what to compare on a shared machine: wall time depends on the others' load.
//
//   npm run test:unit:profile                      every file, one at a time
//   npm run test:unit:profile -- cli faults        only these files (names without .test.ts)
//   npm run test:unit:profile -- --jobs 2          two files at a time (CPU stays comparable, wall does not)
//   npm run test:unit:profile -- --tests cli       also each test's own wall time (top-level tests, from TAP)
//   npm run test:unit:profile -- --json out.json   also write the rows as JSON
//   npm run test:unit:profile -- --against DIR     each file also in another checkout DIR (e.g. an unpacked
//                                                  `git archive main`, built), run just before this one's: a
//                                                  before/after table measured under the same load
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { bundlesFresh } from './unit-bundles.mjs';

const root = join(import.meta.dirname, '..');
const dir = join(root, 'test/unit');
const args = process.argv.slice(2);
let jobs = 1;
let jsonOut = null;
let perTest = false;
let against = null;
const only = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--jobs') jobs = Math.max(1, Number(args[++i]) || 1);
  else if (args[i] === '--json') jsonOut = args[++i];
  else if (args[i] === '--tests') perTest = true;
  else if (args[i] === '--against') against = resolvePath(args[++i]);
  else only.push(args[i].replace(/\.test\.ts$/, '').replace(/^.*\//, ''));
}
if (!existsSync('/usr/bin/time')) {
  console.error('profile-unit: /usr/bin/time is missing (Debian package "time")');
  process.exit(2);
}
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -'.test.ts'.length))
  .sort();
const unknown = only.filter((n) => !all.includes(n));
if (unknown.length) {
  console.error(`profile-unit: no test file ${unknown.map((n) => `test/unit/${n}.test.ts`).join(', ')}`);
  process.exit(2);
}
const names = only.length ? only : all;
for (const c of [root, against].filter(Boolean))
  if (!bundlesFresh(c))
    console.error(`profile-unit: ${c}/out is older than its sources: \`npm run build\` there first`);
/** The `--require X` flags of a checkout's `npm run test:unit` (its package.json). */
function preloads(checkout) {
  const script = JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')).scripts['test:unit'];
  return [...script.matchAll(/--require[ =](\S+)/g)].flatMap((m) => ['--require', m[1]]);
}
const scratch = mkdtempSync(join(tmpdir(), 'il-profile-'));

/**
 * One file alone: its user, system and wall seconds, its test counts and each top-level test's duration
 * (TAP). The file runs as the test runner's child runs it (node with test:unit's preloads, then FILE: node:test
 * runs the tests in that process), without a runner process of its own (`npm run test:unit` shares one).
 */
function profile(name, checkout = root) {
  const timeFile = join(scratch, `${name}.time`);
  const argv = ['-f', '%U %S %e', '-o', timeFile, process.execPath, ...preloads(checkout), '--test-reporter=tap'];
  argv.push(join('test/unit', `${name}.test.ts`));
  return new Promise((resolve) => {
    // As `npm run test:unit` runs it: with the checkout's bundles named when they are fresh (run-unit.mjs).
    const env = { ...process.env };
    if (bundlesFresh(checkout)) env.INDUCTION_LAB_BUNDLES = join(checkout, 'out');
    else delete env.INDUCTION_LAB_BUNDLES;
    const p = spawn('/usr/bin/time', argv, { cwd: checkout, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => {
      const [user, sys, wall] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
      const count = (k) => Number(new RegExp(`^# ${k} (\\d+)`, 'm').exec(out)?.[1] ?? NaN);
      const tests = [...out.matchAll(/^(?:not )?ok \d+ - (.*)\n(?: {2}.*\n)*? {2}duration_ms: ([\d.]+)/gm)].map(
        (m) => ({
          name: m[1],
          seconds: Number(m[2]) / 1000,
        }),
      );
      resolve({
        name,
        user,
        sys,
        cpu: user + sys,
        wall,
        tests: count('tests'),
        fail: count('fail'),
        code,
        perTest: tests,
      });
    });
  });
}

const load0 = loadavg()[0];
const t0 = Date.now();
const rows = [];
const before = new Map();
const queue = [...names];
await Promise.all(
  Array.from({ length: Math.min(jobs, names.length) }, async () => {
    while (queue.length) {
      const name = queue.shift();
      if (against) {
        const b = existsSync(join(against, 'test/unit', `${name}.test.ts`)) ? await profile(name, against) : null;
        before.set(name, b);
        if (b) process.stderr.write(`${name} (against): ${b.cpu.toFixed(1)} s CPU, ${b.wall.toFixed(1)} s wall\n`);
      }
      const r = await profile(name);
      rows.push(r);
      const state = r.code === 0 ? '' : `  FAILED (exit ${r.code}, ${r.fail} failing)`;
      process.stderr.write(`${r.name}: ${r.cpu.toFixed(1)} s CPU, ${r.wall.toFixed(1)} s wall${state}\n`);
    }
  }),
);
rmSync(scratch, { recursive: true, force: true });
rows.sort((a, b) => b.cpu - a.cpu);

/** Longest-first onto two slots: the wall time of two files at a time if each kept its own core. */
function packed(slots) {
  const load = new Array(slots).fill(0);
  for (const r of rows) load[load.indexOf(Math.min(...load))] += r.cpu;
  return Math.max(...load);
}
const sum = (k) => rows.reduce((s, r) => s + r[k], 0);
const pad = (s, n) => String(s).padStart(n);
const width = Math.max(...rows.map((r) => r.name.length), 5);
const cols = against ? `${pad('before CPU', 11)} ${pad('ratio', 6)} ` : '';
console.log(
  `\n${'file'.padEnd(width)} ${cols}${pad('CPU s', 7)} ${pad('user', 7)} ${pad('sys', 6)} ${pad('wall s', 7)} tests`,
);
/** The before column and the before / after ratio (`--against`), empty otherwise. */
const beforeCols = (cpu, b) => {
  if (!against) return '';
  if (b === undefined || b === null) return `${pad('—', 11)} ${pad('', 6)} `;
  return `${pad(b.toFixed(1), 11)} ${pad(`${(b / cpu).toFixed(2)}×`, 6)} `;
};
for (const r of rows) {
  const mark = r.code === 0 ? '' : '  FAILED';
  const b = before.get(r.name);
  const bmark = b && b.code !== 0 ? '  (before: FAILED)' : '';
  const line = `${r.name.padEnd(width)} ${beforeCols(r.cpu, b?.cpu ?? b)}${pad(r.cpu.toFixed(1), 7)} ${pad(r.user.toFixed(1), 7)} `;
  console.log(`${line}${pad(r.sys.toFixed(1), 6)} ${pad(r.wall.toFixed(1), 7)} ${pad(r.tests, 5)}${mark}${bmark}`);
}
const both = rows.filter((r) => before.get(r.name));
const beforeSum = both.reduce((s, r) => s + before.get(r.name).cpu, 0);
const afterSum = both.reduce((s, r) => s + r.cpu, 0);
const total = `${'total'.padEnd(width)} ${against ? beforeCols(afterSum, beforeSum) : ''}${pad(sum('cpu').toFixed(1), 7)} ${pad(sum('user').toFixed(1), 7)} `;
console.log(`${total}${pad(sum('sys').toFixed(1), 6)} ${pad(sum('wall').toFixed(1), 7)} ${pad(sum('tests'), 5)}`);
if (against) console.log(`(ratio of the total over the ${both.length} files in both checkouts)`);
if (perTest) {
  for (const r of rows) {
    console.log(`\n${r.name}:`);
    for (const t of [...r.perTest].sort((a, b) => b.seconds - a.seconds))
      console.log(`  ${pad(t.seconds.toFixed(2), 7)} s  ${t.name}`);
  }
}
const loadEnd = loadavg()[0];
console.log(
  `\n${rows.length} files, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${jobs} at a time, load ${load0.toFixed(1)}` +
    ` → ${loadEnd.toFixed(1)}; CPU on 2 cores packed longest-first: ≥ ${packed(2).toFixed(1)} s of wall`,
);
if (jsonOut) {
  const out = rows.map((r) => ({ ...r, before: before.get(r.name) ?? undefined }));
  writeFileSync(jsonOut, JSON.stringify(out, null, 2) + '\n');
}
process.exitCode = rows.every((r) => r.code === 0) ? 0 : 1;
