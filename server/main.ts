// Process entry. Tracing, when configured, must hook module loading before the
// modules it instruments (node:http, Koa, pg, Redis) load, so the server is
// imported only once it runs (server/tracing.ts); serve.ts is the server process.
// First of all: libraries' console output becomes log lines (console-to-log.ts),
// including what oidc-provider prints as it is imported.
import './console-to-log.ts';
import { startTracing } from './tracing.ts';

try {
  await startTracing();
} catch (err) {
  process.stderr.write(`tollgate: failed to start tracing: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
}
await import('./serve.ts');
