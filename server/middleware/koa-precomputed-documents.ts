// /jwks and the discovery document, served from bytes computed once: they
// change only with keys or configuration, both fixed for the life of the
// process, and resource servers and client libraries fetch them hot.
// Anything else passes through to oidc-provider.
import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';

interface Document { body: Buffer; etag: string }

function document(value: unknown): Document {
  const body = Buffer.from(JSON.stringify(value));
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export function koaPrecomputedDocuments(options: {
  issuer: string;
  jwksPath: string;
  discoveryPath: string;
  publicJwks: unknown;
}): Middleware {
  const issuerOrigin = new URL(options.issuer).origin;
  const jwks = document(options.publicJwks);
  // oidc-provider builds discovery URLs from the request's origin, so the
  // document is captured from its first answer to a request made at the
  // issuer's own origin; requests under another Host are answered live.
  let discovery: Document | undefined;

  const send = (ctx: Parameters<Middleware>[0], doc: Document, cacheControl: string) => {
    ctx.set('Cache-Control', cacheControl);
    ctx.set('ETag', doc.etag);
    ctx.type = 'application/json; charset=utf-8';
    if (ctx.get('if-none-match') === doc.etag) {
      ctx.status = 304;
      return;
    }
    ctx.body = doc.body;
  };

  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === options.jwksPath) {
      // Five minutes: resource servers refetch on an unknown kid anyway, and key rotation publishes new keys ahead of use.
      return send(ctx, jwks, 'public, max-age=300');
    }
    if (ctx.path === options.discoveryPath && ctx.origin === issuerOrigin) {
      if (discovery) return send(ctx, discovery, 'public, max-age=3600');
      await next();
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body)) {
        discovery = document(ctx.body);
        send(ctx, discovery, 'public, max-age=3600');
      }
      return;
    }
    return next();
  };
}
