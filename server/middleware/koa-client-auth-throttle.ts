// Throttles failed client authentication at the endpoints where a client
// secret is presented: /token, /token/introspection, /token/revocation
// (services/login-throttle.ts, ClientAuthThrottle, has the limits and why).
//
// A locked client id or address is answered, before any secret is compared:
//   429 Too Many Requests, Retry-After: <seconds>,
//   {"error":"temporarily_unavailable","error_description":"too many failed client authentications; retry in N seconds"}
// 429 and Retry-After are what HTTP clients and proxies understand as "back
// off" (RFC 6585 §4, RFC 9110 §10.2.3); `temporarily_unavailable` is the
// OAuth code client libraries surface as a passing condition, whereas
// `invalid_client` would tell the operator that a good secret is wrong.
//
// Two halves, because the client id of client_secret_post is in a body only
// the library reads: this provider middleware checks the address before the
// library runs and counts each `invalid_client` answer after it; the
// wrapper of Client#compareClientSecret (the one place a secret is compared,
// lib/shared/client_auth.js:237 in oidc-provider 9.13) refuses a locked
// client id, by any method, before comparing.
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { ClientAuthThrottle } from '../services/login-throttle.ts';

/**
 * oidc-provider's default routes, relative to where it is mounted: every
 * endpoint where it authenticates a client (PAR's /request guesses secrets as well as /token).
 */
const CLIENT_AUTH_PATHS = new Set(['/token', '/token/introspection', '/token/revocation', '/request']);

export function koaClientAuthThrottle(provider: Provider, throttle: ClientAuthThrottle, logger: Logger, metrics?: Metrics): Middleware {
  /** Requests refused by the lock inside the library: answered 429, and not counted again. */
  const refusedByLock = new WeakSet<object>();

  const compare = provider.Client.prototype.compareClientSecret;
  provider.Client.prototype.compareClientSecret = function compareUnlessLocked(this: { clientId: string }, actual: string) {
    const ctx = Provider.ctx;
    if (ctx && throttle.lockedFor(this.clientId, ctx.ip) > 0) {
      refusedByLock.add(ctx);
      return Promise.resolve(false);
    }
    return compare.call(this as never, actual);
  };

  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !CLIENT_AUTH_PATHS.has(ctx.path)) return next();
    const addressWait = throttle.lockedFor(undefined, ctx.ip);
    if (addressWait > 0) return refuse(ctx, addressWait, metrics);

    await next();
    if (ctx.status !== 401 || (ctx.body as { error?: unknown } | undefined)?.error !== 'invalid_client') return;
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc;
    const clientId = oidc?.client?.clientId ?? stringOrUndefined(oidc?.params?.client_id) ?? basicClientId(ctx.get('authorization'));
    if (refusedByLock.has(ctx)) return refuse(ctx, throttle.lockedFor(clientId, ctx.ip), metrics);
    try {
      const wait = await throttle.failed(clientId, ctx.ip);
      if (wait > 0) {
        logger.warn({ route: oidc?.route, client_id: clientId, ip: ctx.ip }, 'client authentication throttled');
        refuse(ctx, wait, metrics);
      }
    } catch (err) {
      // Storage unavailable: the failure goes uncounted; the request has failed anyway and keeps its 401.
      logger.warn({ err: { message: (err as Error).message } }, 'a failed client authentication could not be counted');
    }
  };
}

/** Every refusal passes here: the one place it is counted. */
function refuse(ctx: Parameters<Middleware>[0], seconds: number, metrics?: Metrics): void {
  metrics?.throttled('client_authentication');
  const wait = Math.max(1, seconds);
  ctx.status = 429;
  ctx.remove('WWW-Authenticate');
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Retry-After', String(wait));
  ctx.body = { error: 'temporarily_unavailable', error_description: `too many failed client authentications; retry in ${wait} seconds` };
}

/** The client id of `Authorization: Basic` (RFC 6749 §2.3.1: form-urlencoded, then base64), for a client the library did not find. */
function basicClientId(authorization: string): string | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(authorization);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}
