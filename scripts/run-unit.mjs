// `npm run test:unit`: node:test's runner over test/unit/*.test.ts, two processes at a time, with this process's
// preloads (package.json: tsx/cjs, the tests' TensorFlow.js gradients bundle). What `node --test` (node 20) cannot do:
// - several files share one process (test/unit/sharedProcess.cjs: each file in a suite of its own, the process-wide
//   state a file could inherit reset before it): a process of its own costs a file ≈ 0.5–1.5 s of CPU before its
//   first test. The files go into GROUPS processes, balanced by their durations in the last run; the files of
//   OWN_PROCESS keep a process each;
// - the engine bundles are made fresh first (unit-bundles.mjs) and named in INDUCTION_LAB_BUNDLES, so the CLI
//   processes, training children and worker threads the tests start load a bundle instead of compiling the
//   engine under tsx;
// - the processes expected to take longest start first (node --test sorts files by name: a long file that starts
//   last keeps one core busy alone at the end). The durations are kept in the bank cache's folder; without them
//   (a fresh machine, CI) the order comes from test/unit/durations.json, an earlier run's durations committed as a
//   seed (refresh it with `npm run test:unit -- --write-seed`); a file it does not list counts as average.
//
// - the test processes and all they start get glibc malloc tunables (huge pages, freed memory kept: page faults
//   are dear on a virtual machine) and a temporary folder of this run's, on a RAM disk when there is one, removed
//   at the end (TUNABLES, ramDisk below).
//
//   npm run test:unit                 every file
//   npm run test:unit -- cli faults   only these files (names with or without .test.ts)
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { freshBundles } from './unit-bundles.mjs';

const root = join(import.meta.dirname, '..');
const dir = join(root, 'test/unit');
const CONCURRENCY = 2;
/** Processes the shared files are dealt to (more than CONCURRENCY, so that one slow group does not end alone). */
const GROUPS = 4;
/** glibc malloc tunables of the test processes (below, at GLIBC_TUNABLES). */
const TUNABLES = [
  'glibc.malloc.hugetlb=1', // madvise(MADV_HUGEPAGE) on malloc's memory: the kernel here is in THP "madvise" mode
  'glibc.malloc.mmap_threshold=268435456', // blocks up to 256 MB from the (huge-page) heap, not a fresh mmap each
  'glibc.malloc.trim_threshold=1073741824', // the heap's free top kept up to 1 GB, not returned at each free
].join(':');
/** Files that keep a process of their own, and why. */
const OWN_PROCESS = new Map([
  // It counts the banks this process makes and reads; data/load.ts keeps the last ones a process made in memory.
  ['bankCache.test.ts', 'the in-memory bank cache'],
]);

/** statfs's f_type of a tmpfs (linux/magic.h TMPFS_MAGIC). */
const TMPFS_MAGIC = 0x01021994;
/**
 * A RAM-backed folder for the tests' scratch, or null: /dev/shm when it is a tmpfs with 2 GB free (a run writes
 * a few hundred MB at most) that this user can write.
 */
function ramDisk() {
  const shm = '/dev/shm';
  try {
    accessSync(shm, constants.W_OK);
    const st = statfsSync(shm);
    return st.type === TMPFS_MAGIC && st.bavail * st.bsize >= 2 ** 31 ? shm : null;
  } catch {
    return null; // none here (not Linux, or no /dev/shm)
  }
}

/** Makes `into/name` a link to `name` in the usual temporary folder (a cache that outlives the run). */
function keepCache(name, into) {
  try {
    mkdirSync(join(tmpdir(), name), { recursive: true });
    symlinkSync(join(tmpdir(), name), join(into, name));
  } catch {
    // a cold cache costs time only
  }
}

const all = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .sort();
const args = process.argv.slice(2);
const writeSeed = args.includes('--write-seed');
const only = args
  .filter((a) => a !== '--write-seed')
  .map((a) => a.replace(/^.*\//, '').replace(/(\.test\.ts)?$/, '.test.ts'));
if (writeSeed && only.length) {
  console.error('run-unit: --write-seed runs every file (the seed lists them all)');
  process.exit(2);
}
const unknown = only.filter((f) => !all.includes(f));
if (unknown.length) {
  console.error(`run-unit: no test file ${unknown.map((f) => `test/unit/${f}`).join(', ')}`);
  process.exit(2);
}

const cacheEnv = process.env.INDUCTION_LAB_CACHE;
const cacheDir = cacheEnv === 'off' ? null : cacheEnv ? resolve(cacheEnv) : join(tmpdir(), 'induction-lab-cache');
const durationsFile = cacheDir && join(cacheDir, 'unit-test-durations.json');
const seedFile = join(dir, 'durations.json');
/** Seconds per file name in the last run that ran it (top-level tests' durations summed). */
const readJson = (f) => {
  try {
    return JSON.parse(readFileSync(f, 'utf8'));
  } catch {
    return null; // none yet, or unreadable
  }
};
const last = (durationsFile && readJson(durationsFile)) ?? readJson(seedFile) ?? {};
const chosen = only.length ? only : all;
/** Expected seconds of a file: its last duration, or the mean of the known ones. */
const knownSeconds = chosen.map((f) => last[f]).filter((x) => typeof x === 'number');
const mean = knownSeconds.length ? knownSeconds.reduce((a, b) => a + b, 0) / knownSeconds.length : 1;
const expect = (f) => (typeof last[f] === 'number' ? last[f] : mean);

// Longest first onto the least loaded group (by name when nothing is known: the order of `all`).
const shared = chosen.filter((f) => !OWN_PROCESS.has(f)).sort((a, b) => expect(b) - expect(a) || a.localeCompare(b));
const groups = Array.from({ length: Math.min(GROUPS, shared.length) }, () => ({ files: [], seconds: 0 }));
for (const f of shared) {
  const g = groups.reduce((m, x) => (x.seconds < m.seconds ? x : m));
  g.files.push(f);
  g.seconds += expect(f);
}
const scratch = mkdtempSync(join(ramDisk() ?? tmpdir(), 'il-unit-'));
const loader = join(dir, 'sharedProcess.cjs');
/** The processes to run: a file of its own, or a group file (name → its test files). */
const grouped = new Map();
const processes = [
  ...chosen.filter((f) => OWN_PROCESS.has(f)).map((f) => ({ file: join(dir, f), seconds: expect(f) })),
  ...groups.map((g, i) => {
    const file = join(scratch, `group-${i + 1}.test.cjs`);
    writeFileSync(file, `require(${JSON.stringify(loader)})(${JSON.stringify(g.files.map((f) => join(dir, f)))});\n`);
    grouped.set(file, g.files);
    return { file, seconds: g.seconds };
  }),
].sort((a, b) => b.seconds - a.seconds);

const bundles = freshBundles(root);
if (bundles) process.env.INDUCTION_LAB_BUNDLES = bundles;
// glibc's malloc for the test processes and every process they start (ignored elsewhere): memory from the
// allocator (typed arrays, the 16.6 MB feature bank) on transparent huge pages, and freed memory kept for reuse
// instead of handed back and faulted in again. A page fault is dear on a virtual machine: on 2 cores this took
// ≈ 8 s of CPU off the suite (docs/performance.md, round 9). A value the caller sets is kept.
process.env.GLIBC_TUNABLES ??= TUNABLES;
// The test processes' temporary folder (os.tmpdir(): their run folders, checkpoints, locks) is this run's scratch,
// on a RAM disk when there is one: the engine fsyncs every file it writes and a folder after each rename, ≈ 1 ms
// each on this disk and ≈ 65 in a smoke run, time in which a core waits. Removed at the end with all that the
// tests left. The bank cache and tsx's compile cache stay where they were, so that they outlive the run.
const testTmp = join(scratch, 'tmp');
mkdirSync(testTmp);
keepCache(`tsx-${userInfo().uid}`, testTmp);
if (cacheDir) process.env.INDUCTION_LAB_CACHE = cacheDir;
process.env.TMPDIR = testTmp;

const seconds = {};
const stream = run({ files: processes.map((p) => p.file), concurrency: CONCURRENCY });
/** A file's seconds: its top-level tests' durations, or (in a group) its suite's, which the loader names. */
const count = (d) => {
  if (d.nesting !== 0 || !d.file) return;
  const f = d.file === loader || grouped.has(d.file) ? d.name : basename(d.file);
  seconds[f] = (seconds[f] ?? 0) + (d.details?.duration_ms ?? 0) / 1000;
};
stream.on('test:pass', count);
stream.on('test:fail', (d) => {
  count(d);
  process.exitCode = 1;
});
stream.on('end', () => {
  try {
    rmSync(scratch, { recursive: true, force: true });
  } catch (e) {
    console.error(`run-unit: could not remove ${scratch}: ${e.message}`);
  }
  if (writeSeed) {
    // Every file's seconds, to a tenth (the order needs no more), in name order: a small, readable diff.
    const seed = Object.fromEntries(all.filter((f) => f in seconds).map((f) => [f, Math.round(seconds[f] * 10) / 10]));
    writeFileSync(seedFile, JSON.stringify(seed, null, 2) + '\n');
  }
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
