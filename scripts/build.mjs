// `npm run build` (and `prepare`, which `npm ci` runs):
//   1. the server and the CLI → dist/server (JavaScript that `npm start` runs);
//   2. the resource-server toolkit → dist/resource-server (JavaScript and type
//      declarations, exported as `tollgate/resource-server`);
//   3. the embedded database's template → dist/embedded-database (a pristine
//      data directory copied into an empty DATA_DIR instead of running initdb;
//      rebuilt only when the installed PGlite changes).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = new URL('../', import.meta.url);
const require = createRequire(import.meta.url);

let manifest;
try {
  manifest = require.resolve('typescript/package.json');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  // A production install (`npm ci --omit=dev`, which runs `prepare` unless
  // --ignore-scripts) has no compiler: the build is made where dev
  // dependencies are (the image's build stage), so there is nothing to do
  // here, and failing would fail the install itself.
  if (!existsSync(new URL('dist/server/main.js', root))) {
    console.error('tollgate: typescript is not installed (a production install), so dist/ was not built: build it where dev dependencies are installed (`npm ci && npm run build`) before `npm start`.');
  }
  process.exit(0);
}
const tsc = path.join(path.dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.tsc);

function compile(project) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

// From scratch, so that a deleted source file leaves no module behind.
rmSync(new URL('dist/server', root), { recursive: true, force: true });
compile('tsconfig.build.json');
compile('server/resource-server/tsconfig.json');

const { buildEmbeddedTemplate, EMBEDDED_TEMPLATE_DIR } = await import('../dist/server/repositories/database.js');
if (await buildEmbeddedTemplate()) console.error(`built the embedded database template in ${EMBEDDED_TEMPLATE_DIR}`);
