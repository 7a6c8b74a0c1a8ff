// `prisma generate` without network access. Prisma 7's CLI insists on
// resolving its schema-engine binary before generating, although generation
// never runs it, and tries to download it when absent. Pointing it at
// /bin/true satisfies that check; a machine that has the real engine can
// still set PRISMA_SCHEMA_ENGINE_BINARY to it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let cli;
try {
  cli = require.resolve('prisma/build/index.js');
} catch {
  // A production install (`npm ci --omit=dev` runs `postinstall` unless
  // --ignore-scripts) has no prisma CLI and needs no client: nothing at run
  // time imports server/generated (repositories/database.ts sends SQL to the
  // driver). Development scripts that use it come with a full install.
  process.exit(0);
}
const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/true', PRISMA_HIDE_UPDATE_MESSAGE: '1' };
const result = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
