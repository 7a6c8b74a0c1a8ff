// One JSON line per request: method, path, status, duration, request id, and
// the trace id when tracing is on (server/tracing.ts).
// Only the path is logged: query strings carry codes and tokens, headers carry
// cookies and credentials, bodies carry passwords and secrets.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.ts';
import { currentTraceIds } from '../tracing.ts';

const INCOMING_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane token, else a fresh one. */
export function requestIdFrom(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : randomUUID();
}

// The request line carries only the fields below, none of them secret, so it
// skips the logger's redaction, which is there for fields someone might add
// to other lines and costs about half of writing a line (one line per request).
const unredacted = new WeakMap<Logger, Logger>();
function requestLogger(logger: Logger): Logger {
  let child = unredacted.get(logger);
  if (!child) {
    child = logger.child({}, { redact: [] });
    unredacted.set(logger, child);
  }
  return child;
}

export function logRequest(logger: Logger, line: { req_id: string; method: string; path: string; status: number; started: bigint }): void {
  requestLogger(logger).info({
    req_id: line.req_id,
    method: line.method,
    path: line.path,
    status: line.status,
    duration_ms: Number(process.hrtime.bigint() - line.started) / 1e6,
    // trace_id and span_id of the request's server span, when tracing is on.
    ...currentTraceIds(),
  }, 'request');
}

export function koaRequestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = requestIdFrom(ctx.get('x-request-id') || undefined);
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      // A thrown error is turned into a status by koa-error-handler, which
      // runs inside this middleware, so ctx.status is final here.
      logRequest(logger, { req_id: requestId, method: ctx.method, path: ctx.path, status: ctx.status, started });
    }
  };
}
