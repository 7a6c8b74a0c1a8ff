// One JSON line per request: method, path, status, duration, request id.
// Only the path is logged: query strings carry codes and tokens, headers carry
// cookies and credentials, bodies carry passwords and secrets.
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.ts';

const INCOMING_ID = /^[A-Za-z0-9._-]{1,128}$/;

export function koaRequestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const requestId = INCOMING_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      // A thrown error is turned into a status by koa-error-handler, which
      // runs inside this middleware, so ctx.status is final here.
      logger.info({
        req_id: requestId,
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      }, 'request');
    }
  };
}
