// Authorization requests by POST (OpenID Connect Core §3.1.2.1: "MUST
// support the use of the HTTP GET and POST methods"), answered with a 303
// to the same request by GET.
//
// oidc-provider serves POST itself only with `enableHttpPostMethods`, which
// requires its session cookie to be SameSite=None, since a cross-site form
// post carries no Lax cookie and the user would look signed out. We keep
// SameSite=Lax (CSRF defence for every page) and let the browser come back
// with a top-level GET, which carries Lax cookies. Parameters move into the
// query string; the request log records paths only.
// Only a POST to the endpoint's own path is parsed (`parseForm`) and
// answered here; everything else goes on to the provider untouched.
import type { Middleware } from 'koa';

export function koaAuthorizationPost(authorizationPath: string, parseForm: Middleware): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== authorizationPath) return next();
    await parseForm(ctx, async () => {
      if (!ctx.is('application/x-www-form-urlencoded')) {
        ctx.status = 400;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'invalid_request', error_description: 'authorization requests by POST must be application/x-www-form-urlencoded' };
        return;
      }
      // The body as sent, re-encoded: parameters keep their names and order
      // (the body parser's object would nest `a[b]=1` and lose repeats), and a
      // repeated parameter stays repeated, so the provider rejects it as it
      // would in a GET (RFC 6749 §3.1). Re-encoding keeps CR/LF out of Location.
      const query = new URLSearchParams(String((ctx.request as { rawBody?: string }).rawBody ?? ''));
      ctx.status = 303;
      ctx.set('Cache-Control', 'no-store');
      ctx.redirect(`${authorizationPath}?${query.toString()}`);
    });
  };
}
