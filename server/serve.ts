// The server process, once main.ts has started tracing (or not):
// configuration → port → Tollgate → listening → clean shutdown on SIGTERM/SIGINT.
import { sendConsoleToLog } from './console-to-log.ts';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config.ts';
import { ConfigError, DatabaseBusyError, MigrationError } from './errors.ts';
import { createLogger } from './logger.ts';
import { serveMetrics } from './metrics.ts';
import { createTollgate, type Tollgate } from './tollgate.ts';
import { serveCliSocket, type CliSocket } from './cli/socket-server.ts';
import { stopTracing } from './tracing.ts';
import { listen, PortUnavailableError } from './listen.ts';
import { DRAIN_TIMEOUT_MS, drainable } from './shutdown.ts';
import { bootstrapAdministrator, logNextSteps } from './bootstrap.ts';
import { readMigrations } from './repositories/migrations.ts';

/** Between binding the port and serving: a request is told to come back, as every other 503 of ours. */
const answerStarting: RequestListener = (_req, res) => {
  res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1', 'Cache-Control': 'no-store' });
  res.end('{"error":"temporarily_unavailable","error_description":"Tollgate is starting"}');
};

/** What a stop must close, as far as the start got. */
interface Running {
  tollgate?: Tollgate;
  cliSocket?: CliSocket;
  metricsServer?: Server;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  sendConsoleToLog(logger);
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
  const running: Running = {};
  let starting: Promise<unknown> | undefined;
  let stopping = false;
  const closeAll = async () => {
    // Whatever the start got to: wait for it to settle, then close what it opened.
    await starting?.catch(() => undefined);
    const failed = (what: string) => (err: Error) => logger.error({ err: { message: err.message } }, `${what} failed`);
    if (running.metricsServer) await new Promise<void>((resolve) => running.metricsServer!.close(() => resolve()));
    await running.cliSocket?.close().catch(failed('closing the CLI socket'));
    // Closes the pool, Redis and the embedded database, which releases its lock.
    await running.tollgate?.close().catch(failed('close'));
  };
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
    await closeAll();
    // The spans of the last requests are still buffered (sent every 5 s by default).
    await stopTracing().catch((err: Error) => logger.error({ err: { message: err.message } }, 'exporting the last spans failed'));
    logger.info({ ms: Math.round(performance.now() - begun) }, 'stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const start = async () => {
    running.tollgate = await createTollgate(config, logger);
    // The bootstrap administrator is part of starting: a stop waits for it before closing the database.
    await bootstrapAdministrator({ config, accounts: running.tollgate.accounts, logger, announce: (line) => process.stderr.write(`${line}\n`) });
    if (config.metricsPort !== undefined) running.metricsServer = await serveMetrics(running.tollgate.metrics, { port: config.metricsPort, host: config.host }, logger);
    // Before the line that says it listens: from then on the CLI may count on it (embedded database only).
    running.cliSocket = await serveCliSocket(running.tollgate, logger);
  };
  starting = start();
  try {
    await starting;
  } catch (err) {
    // A busy metrics port, say, after the database was opened: close it cleanly before exiting.
    // A stop already under way closes what was opened and exits (0): leave it
    // to finish rather than exit from under it with the database half closed.
    if (stopping) return;
    server.close();
    await closeAll();
    throw err;
  }
  if (stopping) return;
  const tollgate = running.tollgate!;
  handler = tollgate.handler;

  const { port } = server.address() as AddressInfo;
  logger.info({
    port,
    issuer: config.issuer,
    database: tollgate.database.kind,
    redis: config.redisClusterNodes ? 'cluster' : config.redisUrl ? 'single' : 'none',
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
    for (const problem of err.problems) process.stderr.write(`tollgate: invalid configuration: ${problem}\n`);
  } else if (err instanceof MigrationError || err instanceof DatabaseBusyError || err instanceof PortUnavailableError) {
    process.stderr.write(`tollgate: ${err.message}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`tollgate: failed to start: ${e?.message ?? String(err)}\n`);
  }
  process.exit(1);
});
