// One JSON line per request: method, path, route, status, duration, request
// id, and the trace id when tracing is on (server/tracing.ts); and the same
// request counted in the metrics (metrics.ts), when given.
// Only the path is logged: query strings carry codes and tokens, headers carry
// cookies and credentials, bodies carry passwords and secrets.
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { currentTraceIds, nameRequestSpan } from '../tracing.ts';

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

/**
 * The bounded name of the route that answered, for the log line and the
 * metrics' `route` label (never the raw path, which is unbounded):
 * oidc-provider's route name (`token`, `authorization`, ...: the router sets
 * it for ctx.oidc.route, read here without building ctx.oidc), else our
 * router's pattern below its mount point (`/interaction/:uid/login`), else
 * the mount point alone (`/assets`), else `unmatched`.
 */
export function routeOf(ctx: Context): string {
  const state = ctx as Context & { _matchedRouteName?: string; _matchedRoute?: string; mountPath?: string };
  if (typeof state._matchedRouteName === 'string') return state._matchedRouteName;
  if (typeof state._matchedRoute === 'string') return `${state.mountPath ?? ''}${state._matchedRoute}`;
  return state.mountPath ?? 'unmatched';
}

export function logRequest(logger: Logger, line: { req_id: string; method: string; path: string; route: string; status: number; started: bigint }, metrics?: Metrics): void {
  const durationMs = Number(process.hrtime.bigint() - line.started) / 1e6;
  nameRequestSpan(line.method, line.route);
  requestLogger(logger).info({
    req_id: line.req_id,
    method: line.method,
    path: line.path,
    route: line.route,
    status: line.status,
    duration_ms: durationMs,
    // trace_id and span_id of the request's server span, when tracing is on.
    ...currentTraceIds(),
  }, 'request');
  metrics?.request(line.route, line.status, durationMs / 1000);
}

export function koaRequestLog(logger: Logger, metrics?: Metrics): Middleware {
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
      logRequest(logger, { req_id: requestId, method: ctx.method, path: ctx.path, route: routeOf(ctx), status: ctx.status, started }, metrics);
    }
  };
}
