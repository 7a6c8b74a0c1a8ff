// `npm run build` (and `prepare`, which `npm ci` runs):
//   1. the server and the CLI → dist/server (JavaScript that `npm start` runs);
//   2. the resource-server toolkit → dist/resource-server (JavaScript and type
//      declarations, exported as `tollgate/resource-server`);
//   3. the backend-for-frontend → dist/bff (JavaScript and type declarations,
//      exported as `tollgate/bff`);
//   4. the embedded database's template → dist/embedded-database (a pristine
//      data directory copied into an empty DATA_DIR instead of running initdb;
//      rebuilt only when the installed PGlite changes).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { chmod, readdir } from 'node:fs/promises';
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
compile('server/bff/tsconfig.json');

const { buildEmbeddedTemplate, EMBEDDED_TEMPLATE_DIR } = await import('../dist/server/repositories/database.js');
if (await buildEmbeddedTemplate()) console.error(`built the embedded database template in ${EMBEDDED_TEMPLATE_DIR}`);
await makeReadable(EMBEDDED_TEMPLATE_DIR);

/**
 * The template is built by whoever builds (root, in the image's build stage)
 * and copied by whoever runs the server (the image's `node` user), but
 * PostgreSQL writes some of its files owner-only (pg_logical/
 * replorigin_checkpoint): readable by all, writable by the owner only. The
 * copies in DATA_DIR keep these modes; DATA_DIR itself is the owner's alone.
 */
async function makeReadable(dir) {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const entryPath = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeReadable(entryPath);
    else if (entry.isFile()) await chmod(entryPath, 0o644);
  }
}
