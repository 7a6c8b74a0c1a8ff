// Revocation (RFC 7009) and introspection (RFC 7662) of Tollgate's JWT
// access tokens. oidc-provider refuses structured tokens at both endpoints
// (lib/shared/reject_structured_tokens.js: unsupported_token_type) *after*
// authenticating the client. This provider middleware answers those
// refusals itself, with the client the library authenticated:
//  - revocation records the token's jti until it expires (a JWT cannot be
//    recalled from resource servers that verify offline; Tollgate's own
//    introspection and userinfo honour the record);
//  - introspection reports active only for a valid, unexpired, unrevoked
//    token, to whom oidc/token-policies.ts allows (its own client, or a
//    resource server registered for its audience), with its binding (RFC
//    9449 §6.2: `cnf` and token_type DPoP).
// The verifier is given by tollgate.ts: it knows Tollgate's own audiences and
// the APIs registered as data (services/audience-verifier.ts).
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AccessTokenClaims, AccessTokenVerifier } from '../services/access-tokens.ts';
import type { RevokedTokenRepository } from '../repositories/revoked-token-repository.ts';
import { mayIntrospect, mayRevoke, type PolicyClient } from './token-policies.ts';

export function structuredTokenEndpoints(deps: { verifier: AccessTokenVerifier; revokedTokens: RevokedTokenRepository }) {
  const verified = async (token: string): Promise<AccessTokenClaims | undefined> => {
    try {
      // Introspection reports a bound token too; it is not accepted as a credential here.
      return await deps.verifier.verify(token, { allowSenderConstrained: true });
    } catch {
      return undefined;
    }
  };

  return async function handleStructuredTokens(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    await next();
    const route = ctx.oidc?.route;
    if (route !== 'revocation' && route !== 'introspection') return;
    const refused = ctx.status === 400 && (ctx.body as { error?: string } | undefined)?.error === 'unsupported_token_type';
    const client = ctx.oidc.client;
    const token = ctx.oidc.params?.token;
    if (!refused || !client || typeof token !== 'string') return;

    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    const claims = await verified(token);

    if (route === 'revocation') {
      // RFC 7009 §2.2: 200 whether or not there was anything to revoke; only the token's own client may revoke it.
      if (claims && mayRevoke(client as unknown as PolicyClient, { clientId: claims.client_id }) && typeof claims.exp === 'number') {
        await deps.revokedTokens.revoke(String(claims.jti), new Date(claims.exp * 1000));
      }
      ctx.body = '';
      return;
    }

    const mayKnow = claims && mayIntrospect(client as unknown as PolicyClient, { clientId: claims.client_id, aud: claims.aud });
    ctx.body = mayKnow
      ? {
        active: true,
        token_type: claims.cnf ? 'DPoP' : 'Bearer',
        ...(claims.cnf ? { cnf: claims.cnf } : {}),
        client_id: claims.client_id,
        sub: claims.sub,
        scope: claims.scope,
        iss: claims.iss,
        aud: claims.aud,
        exp: claims.exp,
        iat: claims.iat,
        jti: claims.jti,
      }
      : { active: false };
  };
}
