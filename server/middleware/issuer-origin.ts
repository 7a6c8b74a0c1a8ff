// Every URL Tollgate emits takes its scheme, host, port and path from ISSUER,
// never from the request (issue 12). oidc-provider builds discovery, the
// resume redirect after login, the logout form's action, the expected DPoP
// `htu` and client-assertion audiences from `ctx.href`
// (lib/helpers/oidc_context.js, urlFor), and Koa derives `ctx.href` from
// what the client wrote: the Host header, X-Forwarded-Host when
// `app.proxy` is on, or a request line in absolute form
// (`GET http://evil.example/x`). A cache in front would then hand a
// poisoned discovery document to everyone.
//
// A request under another host is normalised, not refused: health probes
// and load balancers address instances by pod IP or service name, and once
// nothing reads the Host header it can do no harm. X-Forwarded-Proto and
// X-Forwarded-For keep their meaning behind a trusted proxy (ctx.protocol,
// ctx.secure for cookies, ctx.ip for throttling); X-Forwarded-Host has none.
import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The request target in origin form (`/path?query`): RFC 9112 §3.2.2 lets a
 * client send `http://host/path` instead, which would otherwise reach
 * `ctx.originalUrl` and whatever is built from it.
 */
export function originFormOf(target: string): string {
  if (!ABSOLUTE_FORM.test(target)) return target;
  const url = URL.parse(target);
  return url ? `${url.pathname}${url.search}` : '/';
}

/** Puts the request line in origin form, before Koa (or anything) reads it. */
export function normaliseRequestTarget(req: IncomingMessage): void {
  if (req.url && ABSOLUTE_FORM.test(req.url)) req.url = originFormOf(req.url);
}

/**
 * Pins the host-derived getters of Koa's request to the issuer's origin.
 * `app.request` is the prototype of every `ctx.request` of that app (Koa's
 * documented extension point), and oidc-provider, mounted with koa-mount,
 * runs on the outer app's contexts. (The contexts it makes itself, in
 * interactionDetails and interactionResult, only read the interaction
 * cookie: the resume URL they hand back was built at the authorization
 * request, on ours.) `ctx.protocol` and `ctx.secure` are left to Koa
 * (X-Forwarded-Proto behind a trusted proxy); `ctx.origin` is the Origin
 * request header in Koa 3, not a URL of ours.
 */
export function pinRequestOrigin(request: Koa['request'], issuer: string): void {
  const { origin, host, hostname } = new URL(issuer);
  const href = (originalUrl: string | undefined) => `${origin}${originFormOf(originalUrl ?? '/')}`;
  Object.defineProperties(request, {
    host: { configurable: true, get: () => host },
    hostname: { configurable: true, get: () => hostname },
    href: { configurable: true, get(this: Koa.Request) { return href(this.originalUrl); } },
    URL: { configurable: true, get(this: Koa.Request) { return new URL(href(this.originalUrl)); } },
  });
}
