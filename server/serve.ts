// The server process, once main.ts has started tracing (or not): configuration
// → Tollgate → listen → clean shutdown on SIGTERM/SIGINT.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config.ts';
import { ConfigError, DatabaseBusyError, MigrationError } from './errors.ts';
import { createLogger } from './logger.ts';
import { createTollgate } from './tollgate.ts';
import { stopTracing } from './tracing.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  // The log stream batches writes for throughput; flush at least every second so lines never wait long.
  setInterval(() => logger.flush(), 1000).unref();
  const tollgate = await createTollgate(config, logger);
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
  logger.info({
    port,
    issuer: config.issuer,
    database: tollgate.database.kind,
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
    process.stderr.write(`tollgate: invalid configuration: ${err.message}\n`);
  } else if (err instanceof MigrationError || err instanceof DatabaseBusyError) {
    process.stderr.write(`tollgate: ${err.message}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`tollgate: failed to start: ${e?.message ?? String(err)}\n`);
  }
  process.exit(1);
});
