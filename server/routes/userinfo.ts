// Userinfo (OpenID Connect Core §5.3) for the JWT access tokens Tollgate
// issues for its API. oidc-provider only accepts access tokens issued for
// its own userinfo audience at /me; ours are for the API (one token per
// login, as with Keycloak and Auth0), so /me is answered here for them:
// the token is verified like any resource server would, the account must
// still be active, and claims follow the token's scopes. Anything that is
// not a JWT goes on to the provider.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import { BearerError, bearerChallenge, bearerToken, type AccessTokenVerifier } from '../services/access-tokens.ts';

const CLAIMS_BY_SCOPE: Record<string, readonly string[]> = {
  profile: ['name', 'updated_at'],
  email: ['email', 'email_verified'],
};

export function userinfoRoutes(deps: { prefix: string; issuer: string; verifier: AccessTokenVerifier; findAccount: FindAccount }): Router {
  const router = new Router({ prefix: deps.prefix });

  const handle = async (ctx: Context, next: () => Promise<unknown>) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
    try {
      const token = bearerToken(ctx.get('authorization') || undefined);
      // Opaque tokens (none are issued today) stay the provider's business.
      if (token && token.split('.').length !== 3) return next();
      if (!token) throw new BearerError('invalid_token', 'no access token provided');
      const claims = await deps.verifier.verify(token);
      const scopes = new Set((claims.scope ?? '').split(' '));
      if (!scopes.has('openid')) throw new BearerError('insufficient_scope', 'the access token lacks the openid scope', 'openid');
      const account = await deps.findAccount(ctx as unknown as KoaContextWithOIDC, claims.sub);
      if (!account) throw new BearerError('invalid_token', 'the account behind this token is no longer active');
      const all = await account.claims('userinfo', [...scopes].join(' '), {}, []);
      const released: Record<string, unknown> = { sub: claims.sub };
      for (const scope of scopes) {
        for (const name of CLAIMS_BY_SCOPE[scope] ?? []) if (all[name] !== undefined) released[name] = all[name];
      }
      ctx.body = released;
    } catch (err) {
      if (!(err instanceof BearerError)) throw err;
      ctx.status = err.status;
      ctx.set('WWW-Authenticate', bearerChallenge(deps.issuer, err));
      ctx.body = { error: err.code, error_description: err.message };
    }
  };

  router.get('/me', handle);
  router.post('/me', handle);
  router.options('/me', (ctx) => {
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Allow-Methods', 'GET, POST');
    ctx.set('Access-Control-Allow-Headers', 'Authorization');
    ctx.set('Access-Control-Max-Age', '3600');
    ctx.status = 204;
  });
  return router;
}
