// Userinfo as a JWT (OpenID Connect Core §5.3.2) for a client that
// registered `userinfo_signed_response_alg` and/or
// `userinfo_encrypted_response_alg`: signed with Tollgate's key, then
// encrypted to the client's (its `jwks` or `jwks_uri`). Userinfo itself is
// our route (routes/userinfo.ts); the JWT is oidc-provider's, the same code
// that answers at its own userinfo endpoint (IdToken#issue with use
// `userinfo`): key selection, `kid`, nesting and the client's key cache are
// the library's, not ours.
import Provider, { errors } from 'oidc-provider';

/** A client's misregistration (no key for its alg, an unreachable jwks_uri): the client's to fix, not a server fault. */
export class UserinfoEncryptionError extends Error {
  readonly code = 'invalid_client_metadata';
}

export type UserinfoJwt = (input: { clientId: string; claims: Record<string, unknown>; scope: string; expiresAt: number }) => Promise<string | undefined>;

/** The JWT to answer with, or undefined when the client takes plain JSON. */
export function userinfoJwt(provider: Provider): UserinfoJwt {
  return async ({ clientId, claims, scope, expiresAt }) => {
    const client = await provider.Client.find(clientId);
    if (!client || !(client.userinfoSignedResponseAlg || client.userinfoEncryptedResponseAlg)) return undefined;
    const token = new provider.IdToken(claims, { client });
    // The claims are already those the scopes release (routes/userinfo.ts); the mask keeps them.
    (token as unknown as { scope: string }).scope = scope;
    try {
      // `exp` is the access token's, as oidc-provider's own userinfo does.
      return await token.issue({ use: 'userinfo', expiresAt });
    } catch (err) {
      // InvalidClientMetadata ("no suitable encryption key found"), or the client's jwks_uri failing to answer.
      if (err instanceof errors.OIDCProviderError) throw new UserinfoEncryptionError(err.error_description ?? err.message);
      throw err;
    }
  };
}
