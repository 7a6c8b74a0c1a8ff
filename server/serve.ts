// The server process, once main.ts has started tracing (or not): configuration
// → Tollgate → listen → clean shutdown on SIGTERM/SIGINT.
import { sendConsoleToLog } from './console-to-log.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type Config } from './config.ts';
import { ConfigError, DatabaseBusyError, MigrationError } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';
import { serveMetrics } from './metrics.ts';
import { createTollgate, type Tollgate } from './tollgate.ts';
import { serveCliSocket } from './cli/socket-server.ts';
import { stopTracing } from './tracing.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  sendConsoleToLog(logger);
  // The log stream batches writes for throughput; flush at least every second so lines never wait long.
  setInterval(() => logger.flush(), 1000).unref();
  const tollgate = await createTollgate(config, logger);
  try {
    await listen(config, tollgate, logger);
  } catch (err) {
    // A busy port (public or metrics) after the database was opened: close it cleanly before exiting.
    await tollgate.close().catch(() => undefined);
    throw err;
  }
}

async function listen(config: Config, tollgate: Tollgate, logger: Logger): Promise<void> {
  if (config.metricsPort !== undefined) await serveMetrics(tollgate.metrics, { port: config.metricsPort, host: config.host }, logger);
  const server = createServer(tollgate.handler);
  // Keep-alive longer than typical load balancers' idle timeout (60 s), so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (config.host) server.listen(config.port, config.host, resolve);
    else server.listen(config.port, resolve);
  });
  const { port } = server.address() as AddressInfo;
  // Before the line that says it listens: from then on the CLI may count on it (embedded database only).
  const cliSocket = await serveCliSocket(tollgate, logger);
  logger.info({
    port,
    issuer: config.issuer,
    database: tollgate.database.kind,
    redis: config.redisClusterNodes ? 'cluster' : config.redisUrl ? 'single' : 'none',
    // From process start: module loading included, as an operator experiences it.
    startup_ms: Math.round(process.uptime() * 1000),
    rss_mb: Math.round(process.memoryUsage.rss() / 1e6),
  }, 'tollgate listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Stop accepting, let requests in flight finish, then close the database.
    server.close(async () => {
      await cliSocket.close().catch((err: Error) => logger.error({ err: { message: err.message } }, 'closing the CLI socket failed'));
      await tollgate.close().catch((err: Error) => logger.error({ err: { message: err.message } }, 'close failed'));
      // The spans of the last requests are still buffered (sent every 5 s by default).
      await stopTracing().catch((err: Error) => logger.error({ err: { message: err.message } }, 'exporting the last spans failed'));
      logger.flush();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    for (const problem of err.problems) process.stderr.write(`tollgate: invalid configuration: ${problem}\n`);
  } else if (err instanceof MigrationError || err instanceof DatabaseBusyError) {
    process.stderr.write(`tollgate: ${err.message}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`tollgate: failed to start: ${e?.message ?? String(err)}\n`);
  }
  process.exit(1);
});
