// `prisma generate` without network access. Prisma 7's CLI insists on
// resolving its schema-engine binary before generating, although generation
// never runs it, and tries to download it when absent. Pointing it at
// /bin/true satisfies that check; a machine that has the real engine can
// still set PRISMA_SCHEMA_ENGINE_BINARY to it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

const require = createRequire(import.meta.url);
let cli;
try {
  cli = require.resolve('prisma/build/index.js');
} catch {
  // Production installs omit dev dependencies; the client was generated at build time.
  if (existsSync(new URL('../server/generated/prisma/client.ts', import.meta.url))) process.exit(0);
  console.error('prisma is not installed and server/generated/prisma is missing: run a full `npm ci`.');
  process.exit(1);
}
const env = { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? '/bin/true', PRISMA_HIDE_UPDATE_MESSAGE: '1' };
const result = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
