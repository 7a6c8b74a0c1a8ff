// /jwks and the discovery document, served from bytes computed once: they
// change only with the keys (replaceJwks, on a rotation) or the
// configuration (fixed for the life of the process), and resource servers
// and client libraries fetch them hot.
//
// The discovery document is captured from the provider's first answer (this
// middleware): whatever host that request named, its URLs are the issuer's
// (middleware/issuer-origin.ts), so one document serves every request. Once
// held, both are served by http-handler.ts before Koa is entered at all.
import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';

export interface StaticDocument {
  /** oidc-provider's name for the route it replaces (`jwks`, `discovery`): the request log's and metrics' route. */
  readonly route: string;
  readonly body: Buffer;
  readonly etag: string;
  readonly cacheControl: string;
  readonly contentType: string;
}

export interface PrecomputedDocuments {
  /** The document for a GET of `path`, if held. */
  lookup(path: string): StaticDocument | undefined;
  /** Koa middleware capturing the discovery document from the provider's first answer. */
  readonly capture: Middleware;
  /** Publishes another key set (after a rotation). */
  replaceJwks(publicJwks: unknown): void;
}

function document(route: string, value: unknown, cacheControl: string, contentType = 'application/json; charset=utf-8'): StaticDocument {
  const body = Buffer.from(JSON.stringify(value));
  return { route, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, cacheControl, contentType };
}

export function precomputedDocuments(options: { issuer: string; jwksPath: string; discoveryPath: string; publicJwks: unknown }): PrecomputedDocuments {
  // Five minutes: resource servers refetch on an unknown kid anyway, and a rotation publishes new keys ahead of use.
  // RFC 7517 §8.5 media type, as oidc-provider's own /jwks answers.
  const jwksDocument = (publicJwks: unknown) => document('jwks', publicJwks, 'public, max-age=300', 'application/jwk-set+json; charset=utf-8');
  let jwks = jwksDocument(options.publicJwks);
  let discovery: StaticDocument | undefined;

  return {
    replaceJwks(publicJwks) {
      jwks = jwksDocument(publicJwks);
    },
    lookup(path) {
      if (path === options.jwksPath) return jwks;
      if (path === options.discoveryPath) return discovery;
      return undefined;
    },
    capture: async (ctx, next) => {
      await next();
      if (discovery || ctx.method !== 'GET' || ctx.path !== options.discoveryPath) return;
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body)) {
        // Kept for everyone only when it names the issuer's own endpoints: a
        // document built from anything else (a context that escaped the
        // issuer pinning, middleware/issuer-origin.ts) is served once, never cached.
        const body = ctx.body as { issuer?: unknown; token_endpoint?: unknown };
        if (body.issuer !== options.issuer || typeof body.token_endpoint !== 'string' || !body.token_endpoint.startsWith(`${options.issuer}/`)) return;
        discovery = document('discovery', ctx.body, 'public, max-age=3600');
      }
    },
  };
}
