// RFC 6749 §5.1: a response carrying tokens has `Cache-Control: no-store`
// and `Pragma: no-cache`. oidc-provider sets only the first
// (lib/shared/no_cache.js) on the token, PAR, device authorization,
// introspection and userinfo endpoints; our pages and errors set it too.
// Every response marked no-store gets the Pragma as well, for HTTP/1.0
// caches that know no Cache-Control (RFC 9111 §5.4).
import type { Middleware } from 'koa';

export function koaNoCachePragma(): Middleware {
  return async (ctx, next) => {
    await next();
    if (/\bno-store\b/i.test(ctx.response.get('Cache-Control')) && !ctx.response.get('Pragma')) ctx.set('Pragma', 'no-cache');
  };
}
