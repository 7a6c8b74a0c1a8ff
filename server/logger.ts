// The process logger. pino writes JSON lines (LOG_FORMAT=pretty: human
// lines, for development); request lines come from
// middleware/koa-request-log.ts, and what libraries print through console
// arrives through console-to-log.ts. Nothing here logs request headers, bodies or
// query strings, which is where tokens, secrets, passwords and cookies travel:
// log what you choose to log, never a whole request.
import { createRequire } from 'node:module';
import pino from 'pino';
import type { Logger, DestinationStream } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { Config } from './config.ts';

export type { Logger };

// Defence in depth for fields someone might add later.
const REDACT = [
  'password', 'secret', 'client_secret', 'token', 'access_token', 'refresh_token', 'id_token',
  'authorization', 'cookie', '*.password', '*.secret', '*.client_secret', '*.token',
  '*.authorization', '*.cookie', 'headers', '*.headers',
];

export function createLogger(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logFormat'>>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'tollgate' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (!destination && config.logFormat === 'pretty') return pino(options, prettyStdout());
  // Asynchronous, buffered stdout: a synchronous write per request would cost
  // more than issuing a token. serve.ts flushes it on shutdown.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}

/**
 * pino-pretty as a stream in this process (its documented use besides a
 * transport's worker thread), synchronous so that no line is lost when the
 * process exits. Loaded only when asked for: production never pays for it.
 */
function prettyStdout(): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({ destination: 1, sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' });
}
