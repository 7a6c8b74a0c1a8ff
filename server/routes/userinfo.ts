// Userinfo (OpenID Connect Core §5.3) for the JWT access tokens Tollgate
// issues for its API. oidc-provider only accepts access tokens issued for
// its own userinfo audience at /me; ours are for the API (one token per
// login, as with Keycloak and Auth0), so /me is answered here for them:
// the token is verified like any resource server would (a DPoP-bound one
// with its proof, RFC 9449 §7), the account must still be active, and
// claims follow the token's scopes.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { AccessTokenVerifier } from '../services/access-tokens.ts';
import { UserinfoEncryptionError, type UserinfoJwt } from '../oidc/userinfo-response.ts';
import {
  BearerError, MissingTokenError, VerifierUnavailableError, challengesFor, createRequestAuthenticator, presentedToken, type DpopOptions, type TokenScheme,
} from '../resource-server/index.ts';

const CLAIMS_BY_SCOPE: Record<string, readonly string[]> = {
  profile: ['name', 'updated_at'],
  email: ['email', 'email_verified'],
};

/** Mounted at <issuer path>/me (app.ts). */
export function userinfoRoutes(deps: {
  issuer: string; verifier: AccessTokenVerifier; findAccount: FindAccount; dpop?: DpopOptions;
  /** A signed and/or encrypted answer for clients that registered one (oidc/userinfo-response.ts). */
  userinfoJwt?: UserinfoJwt;
}): Router {
  const router = new Router();
  const authenticator = createRequestAuthenticator(deps.verifier, deps.dpop ?? {});
  // A proof's htu is checked against the issuer's origin, never the Host header.
  const origin = new URL(deps.issuer).origin;

  const handle = async (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
    let presentedScheme: TokenScheme | undefined;
    try {
      // RFC 6750 §2.1 header, or §2.2 form body (OpenID Connect Core §5.3.1; a
      // bearer token, as RFC 9449 §7.1 allows DPoP tokens in the header only); never the query string.
      const fromBody = (ctx.request.body as Record<string, unknown> | undefined)?.access_token;
      const fromHeader = presentedToken(ctx.get('authorization') || undefined);
      presentedScheme = fromHeader?.scheme;
      if (fromHeader && fromBody !== undefined) throw new BearerError('invalid_request', 'an access token in both the header and the body');
      const presented = fromHeader ?? (typeof fromBody === 'string' && fromBody ? { scheme: 'Bearer' as const, token: fromBody } : undefined);
      const found = presented && await authenticator.authenticate({ method: ctx.method, url: `${origin}${ctx.originalUrl}`, dpop: ctx.get('dpop') || undefined }, presented);
      if (!found) throw new MissingTokenError();
      const { claims } = found;
      const scopes = new Set((claims.scope ?? '').split(' '));
      if (!scopes.has('openid')) throw new BearerError('insufficient_scope', 'the access token lacks the openid scope', 'openid');
      const account = await deps.findAccount(ctx as unknown as KoaContextWithOIDC, claims.sub);
      if (!account) throw new BearerError('invalid_token', 'the account behind this token is no longer active');
      const all = await account.claims('userinfo', [...scopes].join(' '), {}, []);
      const released: Record<string, unknown> = { sub: claims.sub };
      for (const scope of scopes) {
        for (const name of CLAIMS_BY_SCOPE[scope] ?? []) if (all[name] !== undefined) released[name] = all[name];
      }
      const jwt = typeof claims.client_id === 'string' && typeof claims.exp === 'number'
        ? await deps.userinfoJwt?.({ clientId: claims.client_id, claims: released, scope: [...scopes].join(' '), expiresAt: claims.exp })
        : undefined;
      if (jwt) {
        // OpenID Connect Core §5.3.2: a signed or encrypted response is application/jwt.
        ctx.type = 'application/jwt; charset=utf-8';
        ctx.body = jwt;
      } else {
        ctx.body = released;
      }
    } catch (err) {
      if (err instanceof UserinfoEncryptionError) {
        // The client registered encryption it gave no usable key for: its registration is what is wrong.
        ctx.status = 400;
        ctx.body = { error: err.code, error_description: err.message };
        return;
      }
      if (err instanceof VerifierUnavailableError) {
        // The DPoP replay cache is full (dpop.ts): try again shortly.
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        ctx.body = { error: err.code, error_description: err.message };
        return;
      }
      if (!(err instanceof BearerError)) throw err;
      ctx.status = err.status;
      ctx.set('WWW-Authenticate', challengesFor(deps.issuer, err, { dpopAlgorithms: authenticator.dpopAlgorithms, presentedScheme }));
      ctx.body = { error: err.code, error_description: err.message };
    }
  };

  router.get('/', handle);
  router.post('/', handle);
  router.options('/', (ctx) => {
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Allow-Methods', 'GET, POST');
    ctx.set('Access-Control-Allow-Headers', 'Authorization, DPoP');
    ctx.set('Access-Control-Max-Age', '3600');
    ctx.status = 204;
  });
  return router;
}
