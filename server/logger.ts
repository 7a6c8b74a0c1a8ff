// The process logger. pino writes JSON lines; request lines come from
// middleware/koa-request-log.ts. Nothing here logs request headers, bodies or
// query strings, which is where tokens, secrets, passwords and cookies travel:
// log what you choose to log, never a whole request.
import pino from 'pino';
import type { Logger, DestinationStream } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

// Defence in depth for fields someone might add later.
const REDACT = [
  'password', 'secret', 'client_secret', 'token', 'access_token', 'refresh_token', 'id_token',
  'authorization', 'cookie', '*.password', '*.secret', '*.client_secret', '*.token',
  '*.authorization', '*.cookie', 'headers', '*.headers',
];

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'tollgate' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Asynchronous, buffered stdout: a synchronous write per request would cost
  // more than issuing a token. main.ts flushes it on shutdown.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}
