// Response headers every answer carries. Page-specific policy (the CSP of
// the hosted pages) is set where the pages are rendered.
import type { Middleware } from 'koa';

export function koaSecurityHeaders({ https }: { https: boolean }): Middleware {
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    // Authorization responses carry codes in the URL: never leak it in Referer (RFC 9700 §4.2.4).
    ctx.set('Referrer-Policy', 'no-referrer');
    // Clickjacking of login and consent (RFC 6749 §10.13).
    ctx.set('X-Frame-Options', 'DENY');
    if (https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}
