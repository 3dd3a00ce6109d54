// `npm run test:python`: the Python reader's tests (python/tests, stdlib unittest) with an interpreter that
// imports numpy — $PYTHON, else Debian's /usr/bin/python3 (CI installs python3-numpy and python3-h5py),
// else python3 on the PATH. Extra arguments go to unittest (e.g. -k forward). Optional modules change what
// runs: h5py (the authors' format), torch (the torch model), matplotlib (the notebook's figures), jupyter
// (executing the notebook in a kernel); the list printed first says which were found.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const tried = [process.env.PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
const hasNumpy = (py) => spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const py = tried.find(hasNumpy);
if (!py) {
  console.error(
    `test:python: no Python 3 with numpy (tried ${tried.join(', ')}); ` +
      'install it: apt-get install -y python3-numpy',
  );
  process.exit(1);
}
const probe = spawnSync(
  py,
  [
    '-c',
    `
import importlib.util, shutil, sys, numpy
found = [m for m in ("h5py", "torch", "matplotlib", "pandas") if importlib.util.find_spec(m)]
print(f"{sys.executable} {sys.version.split()[0]}, numpy {numpy.__version__}; optional: {', '.join(found) or 'none'}"
      f"{', jupyter' if shutil.which('jupyter') else ''}")
`,
  ],
  { encoding: 'utf8' },
);
// A probe that fails says why instead of printing an empty list (it once did: "import importlib" alone
// does not load importlib.util on Debian's Python 3.11).
console.log(`test:python: ${probe.stdout.trim() || `the probe of optional modules failed: ${probe.stderr.trim()}`}`);
const args = ['-m', 'unittest', 'discover', '-s', 'python/tests', '-t', 'python/tests', ...process.argv.slice(2)];
const r = spawnSync(py, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
