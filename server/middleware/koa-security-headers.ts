// Response headers every answer carries. Page-specific policy (the CSP of
// the hosted pages) is set where the pages are rendered.
import type { Middleware } from 'koa';

/** The headers themselves, shared with the raw fast path in http-handler.ts. */
export function securityHeaders({ https }: { https: boolean }): ReadonlyArray<readonly [string, string]> {
  return [
    ['X-Content-Type-Options', 'nosniff'],
    // Authorization responses carry codes in the URL: never leak it in Referer (RFC 9700 §4.2.4).
    ['Referrer-Policy', 'no-referrer'],
    // Clickjacking of login and consent (RFC 6749 §10.13).
    ['X-Frame-Options', 'DENY'],
    ...(https ? [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'] as const] : []),
  ];
}

export function koaSecurityHeaders(options: { https: boolean }): Middleware {
  const headers = securityHeaders(options);
  return async (ctx, next) => {
    for (const [name, value] of headers) ctx.set(name, value);
    await next();
  };
}
