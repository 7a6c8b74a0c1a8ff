// When the database or Redis is down, oidc-provider sees an error from its
// adapter (or findAccount) and answers 500 server_error. That is a passing
// fault, not a bug: this turns such answers into 503 temporarily_unavailable
// (RFC 6749 §4.1.2.1, §5.2 usage), with Retry-After, as JSON, our error page,
// or the error redirect the library was sending the client.
//
// Two halves: `markStorageFault`, called by the provider's server_error
// listener (oidc/events.ts), and `answerStorageFaults`, provider middleware
// that rewrites the answer of a request so marked.
import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { ProviderPages } from './configuration.ts';

const DESCRIPTION = 'the service is temporarily unavailable; try again shortly';
const FAULT = Symbol('storage fault');

/** This request failed because storage is unavailable (`isUnavailable`): answer it as such. */
export function markStorageFault(ctx: KoaContextWithOIDC, err: Error, logger: Logger): void {
  (ctx.state as Record<symbol, boolean>)[FAULT] = true;
  logger.warn({ route: ctx.oidc?.route, err: { message: err.message } }, 'storage unavailable');
}

/** Provider middleware (`provider.use`), added before the app mounts the provider: koa-mount composes its middleware once. */
export function answerStorageFaults(pages: ProviderPages): Middleware {
  return async (ctx, next) => {
    await next();
    if (!(ctx.state as Record<symbol, boolean>)[FAULT]) return;
    ctx.set('Cache-Control', 'no-store');
    const location = ctx.response.get('location');
    if (ctx.status >= 300 && ctx.status < 400 && location) {
      // The library redirected the error to the client (authorization endpoint): same redirect, the right code.
      const url = new URL(location);
      url.searchParams.set('error', 'temporarily_unavailable');
      url.searchParams.set('error_description', DESCRIPTION);
      ctx.redirect(url.href);
      return;
    }
    ctx.status = 503;
    ctx.set('Retry-After', '2');
    if (ctx.response.is('html')) pages.error(ctx as KoaContextWithOIDC, { error: 'temporarily_unavailable', error_description: DESCRIPTION });
    else ctx.body = { error: 'temporarily_unavailable', error_description: DESCRIPTION };
  };
}
