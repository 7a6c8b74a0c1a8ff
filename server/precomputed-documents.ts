// /jwks and the discovery document, served from bytes computed once: they
// change only with the keys (replaceJwks, on a rotation) or the
// configuration (fixed for the life of the process), and resource servers
// and client libraries fetch them hot.
//
// oidc-provider builds discovery URLs from the request's origin, so that
// document is captured from its first answer to a request made at the
// issuer's own origin (this middleware); requests under another Host are
// answered live by the provider. Once held, both are served by
// http-handler.ts before Koa is entered at all.
import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';

export interface StaticDocument {
  readonly body: Buffer;
  readonly etag: string;
  readonly cacheControl: string;
  readonly contentType: string;
}

export interface PrecomputedDocuments {
  /** The document for a GET of `path` made to `origin`, if held. */
  lookup(path: string, origin: string): StaticDocument | undefined;
  /** Koa middleware capturing the discovery document from the provider's first answer. */
  readonly capture: Middleware;
  /** Publishes another key set (after a rotation). */
  replaceJwks(publicJwks: unknown): void;
}

function document(value: unknown, cacheControl: string, contentType = 'application/json; charset=utf-8'): StaticDocument {
  const body = Buffer.from(JSON.stringify(value));
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, cacheControl, contentType };
}

export function precomputedDocuments(options: { issuer: string; jwksPath: string; discoveryPath: string; publicJwks: unknown }): PrecomputedDocuments {
  const issuerOrigin = new URL(options.issuer).origin;
  // Five minutes: resource servers refetch on an unknown kid anyway, and a rotation publishes new keys ahead of use.
  // RFC 7517 §8.5 media type, as oidc-provider's own /jwks answers.
  const jwksDocument = (publicJwks: unknown) => document(publicJwks, 'public, max-age=300', 'application/jwk-set+json; charset=utf-8');
  let jwks = jwksDocument(options.publicJwks);
  let discovery: StaticDocument | undefined;

  return {
    replaceJwks(publicJwks) {
      jwks = jwksDocument(publicJwks);
    },
    lookup(path, origin) {
      if (path === options.jwksPath) return jwks;
      if (path === options.discoveryPath && origin === issuerOrigin) return discovery;
      return undefined;
    },
    capture: async (ctx, next) => {
      await next();
      if (discovery || ctx.method !== 'GET' || ctx.path !== options.discoveryPath) return;
      // `${protocol}://${host}` rather than ctx.origin, which Koa 3 derives from a URL object that can be 'null'.
      if (`${ctx.protocol}://${ctx.host}` !== issuerOrigin) return;
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body)) {
        discovery = document(ctx.body, 'public, max-age=3600');
      }
    },
  };
}
