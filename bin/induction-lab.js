#!/usr/bin/env node
// The CLI bundle is built by `npm install` (prepare) or `npm run build`.
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'out', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write('induction-lab: out/cli.js is missing; run `npm run build` first\n');
  process.exit(2);
}
require(cli);
