// Process entry: configuration → port → Tollgate → listening → clean shutdown on SIGTERM/SIGINT.
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config.ts';
import { ConfigError, DatabaseBusyError, MigrationError } from './errors.ts';
import { createLogger } from './logger.ts';
import { createTollgate, type Tollgate } from './tollgate.ts';
import { listen, PortUnavailableError } from './listen.ts';
import { DRAIN_TIMEOUT_MS, drainable } from './shutdown.ts';
import { bootstrapAdministrator, logNextSteps } from './bootstrap.ts';
import { readMigrations } from './repositories/migrations.ts';

/** Between binding the port and serving: a request is told to come back, as every other 503 of ours. */
const answerStarting: RequestListener = (_req, res) => {
  res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1', 'Cache-Control': 'no-store' });
  res.end('{"error":"temporarily_unavailable","error_description":"Tollgate is starting"}');
};

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  // The log stream batches writes for throughput; flush at least every second so lines never wait long.
  setInterval(() => logger.flush(), 1000).unref();

  let handler: RequestListener = answerStarting;
  const server = createServer();
  const drain = drainable(server);
  server.on('request', drain.track((req, res) => handler(req, res)));
  // Keep-alive longer than typical load balancers' idle timeout (60 s), so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  // The port first, so that a busy one stops the start before the database is touched.
  await listen(server, config);

  // From here a signal stops the process cleanly, even while it is still starting.
  let stopping = false;
  let starting: Promise<Tollgate> | undefined;
  const stop = async (signal: string) => {
    // A terminal's Ctrl-C reaches node twice (from the terminal and from npm,
    // which forwards it): a repeated signal must not cut the drain short.
    if (stopping) return;
    stopping = true;
    const begun = performance.now();
    logger.info({ signal, in_flight: drain.inFlight }, 'shutting down');
    // The whole stop is bounded too, should closing a connection hang.
    setTimeout(() => {
      logger.error('shutdown did not finish in time');
      logger.flush();
      process.exit(1);
    }, DRAIN_TIMEOUT_MS + 4_000).unref();
    const { drained, cut } = await drain.drain();
    if (!drained) logger.warn({ cut }, 'requests still running when the drain timed out were cut short');
    // Closes the pool, Redis and the embedded database, which releases its lock.
    await starting?.then((t) => t.close(), () => {}).catch((err: Error) => logger.error({ err: { message: err.message } }, 'close failed'));
    logger.info({ ms: Math.round(performance.now() - begun) }, 'stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The bootstrap administrator is part of starting: a stop waits for it before closing the database.
  starting = createTollgate(config, logger).then(async (t) => {
    await bootstrapAdministrator({ config, accounts: t.accounts, logger, announce: (line) => process.stderr.write(`${line}\n`) });
    return t;
  });
  const tollgate = await starting;
  if (stopping) return;
  handler = tollgate.handler;

  const { port } = server.address() as AddressInfo;
  logger.info({
    port,
    issuer: config.issuer,
    database: tollgate.database.kind,
    // From process start: module loading included, as an operator experiences it.
    startup_ms: Math.round(process.uptime() * 1000),
    rss_mb: Math.round(process.memoryUsage.rss() / 1e6),
  }, 'tollgate listening');
  // A first start is one that created the database's schema: it applied the first migration.
  const [first] = await readMigrations();
  if (first && tollgate.migrated.includes(first.name)) logNextSteps(logger, config);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`tollgate: invalid configuration: ${err.message}\n`);
  } else if (err instanceof MigrationError || err instanceof DatabaseBusyError || err instanceof PortUnavailableError) {
    process.stderr.write(`tollgate: ${err.message}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`tollgate: failed to start: ${e?.message ?? String(err)}\n`);
  }
  process.exit(1);
});
