// Response headers every answer carries, the hosted pages' Content-Security-
// Policy included: no script of ours anywhere, styles from our origin only,
// never framed. oidc-provider's form_post page adds the hash of its one
// inline script to script-src itself (lib/helpers/script_src_sha.js), so no
// 'unsafe-inline' is ever needed.
import type { Middleware } from 'koa';

export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

/** The headers themselves, shared with the raw fast path in http-handler.ts. */
export function securityHeaders({ https }: { https: boolean }): ReadonlyArray<readonly [string, string]> {
  return [
    ['X-Content-Type-Options', 'nosniff'],
    // Authorization responses carry codes in the URL: never leak it in Referer (RFC 9700 §4.2.4).
    ['Referrer-Policy', 'no-referrer'],
    // Clickjacking of login and consent (RFC 6749 §10.13); frame-ancestors for CSP-aware browsers.
    ['X-Frame-Options', 'DENY'],
    ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
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
