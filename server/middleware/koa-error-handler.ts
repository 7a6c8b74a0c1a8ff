// Errors from our own routes become a clear OAuth-style JSON body or a
// friendly page, never a stack trace. oidc-provider renders its own errors;
// this only sees what escapes from it (which then is a bug: server_error).
import type { Middleware } from 'koa';
import { errorBody, ServiceUnavailableError, TollgateError } from '../errors.ts';
import { isUnavailable } from '../repositories/unavailable.ts';
import type { Logger } from '../logger.ts';

export type ErrorPageRenderer = (ctx: Parameters<Middleware>[0], page: { status: number; error: string; description: string }) => void;

export function koaErrorHandler(logger: Logger, renderPage?: ErrorPageRenderer): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const known = isUnavailable(err) ? new ServiceUnavailableError() : toTollgateError(err);
      if (known instanceof ServiceUnavailableError) {
        logger.warn({ req_id: ctx.state.requestId, err: { message: (err as Error)?.message } }, 'storage unavailable');
        ctx.set('Retry-After', '2');
      } else if (!known.expose) {
        const e = err as Error;
        logger.error({ req_id: ctx.state.requestId, err: { name: e?.name, message: e?.message, stack: e?.stack } }, 'unhandled error');
      }
      const body = errorBody(known);
      ctx.status = known.expose ? known.status : 500;
      if (renderPage && ctx.accepts('json', 'html') === 'html') {
        renderPage(ctx, { status: ctx.status, error: body.error, description: body.error_description });
      } else {
        ctx.set('Cache-Control', 'no-store');
        ctx.body = body;
      }
    }
  };
}

/** Our error types pass through; http-errors (body parser limits, ctx.throw) keep their status when exposed. */
function toTollgateError(err: unknown): TollgateError {
  if (err instanceof TollgateError) return err;
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
    const code = e.status === 413 ? 'request_too_large' : e.status === 415 ? 'unsupported_media_type' : 'invalid_request';
    return new TollgateError(code, String(e.message), e.status);
  }
  return new TollgateError('server_error', 'internal server error', 500, false);
}
