// The verifier that introspection (RFC 7662) and revocation (RFC 7009) of
// our JWT access tokens use (oidc/structured-tokens.ts): it picks, by the
// token's `aud`, the verifier that knows that audience.
//  - Tollgate's own audiences (API_AUDIENCE, the admin API): the verifier
//    they always had, with no look-up of registered APIs (the hot path).
//  - A registered API's identifier (docs/apis.md): a verifier for that
//    audience, made on first use and kept. The API is looked up on every
//    call (services/apis.ts resourceServer, cached by its repository), so a
//    token for an API that was removed is refused at once.
//  - Anything else (an unknown audience, a removed API): refused without
//    checking its signature.
// The unverified `aud` only chooses; the chosen verifier checks signature,
// issuer, audience, typ, expiry and revocation as for any token.
import { decodeJwt } from 'jose';
import { BearerError, type AccessTokenVerifier } from './access-tokens.ts';

/** oidc-provider issues one audience per token; a hand-made list is looked at this far, no further. */
const MAX_AUDIENCES_LOOKED_UP = 5;
/** Verifiers kept per key generation: one per registered API that had a token introspected. */
const MAX_KEPT_VERIFIERS = 1_000;

export interface AudienceVerifierOptions {
  /** The verifier of Tollgate's own audiences. */
  own: AccessTokenVerifier;
  ownAudiences: readonly string[];
  /** The verifier of a registered API's tokens; undefined when no API has this identifier. */
  registeredApi(identifier: string): Promise<AccessTokenVerifier | undefined>;
}

export function createAudienceVerifier(options: AudienceVerifierOptions): AccessTokenVerifier {
  return {
    async verify(token, verifyOptions) {
      const audiences = unverifiedAudiences(token);
      // Unreadable (an encrypted token among others): the own verifier refuses it with its reason, as it always did.
      if (!audiences || audiences.some((aud) => options.ownAudiences.includes(aud))) return options.own.verify(token, verifyOptions);
      for (const aud of audiences.slice(0, MAX_AUDIENCES_LOOKED_UP)) {
        const verifier = await options.registeredApi(aud);
        if (verifier) return verifier.verify(token, verifyOptions);
      }
      throw new BearerError('invalid_token', 'access token is not for an API of this server');
    },
  };
}

/**
 * One verifier per audience, made by `make` on first use; for one
 * generation of signing keys (a rotation makes a new cache).
 */
export function verifierPerAudience(make: (audience: string) => AccessTokenVerifier): (audience: string) => AccessTokenVerifier {
  const kept = new Map<string, AccessTokenVerifier>();
  return (audience) => {
    let verifier = kept.get(audience);
    if (!verifier) {
      verifier = make(audience);
      // Only registered identifiers get here; the bound keeps removed-and-re-added churn from growing memory.
      if (kept.size >= MAX_KEPT_VERIFIERS) kept.delete(kept.keys().next().value!);
      kept.set(audience, verifier);
    }
    return verifier;
  };
}

/** The `aud` of a compact JWS, unverified; undefined when the token is not one or has none. */
function unverifiedAudiences(token: string): string[] | undefined {
  let aud: unknown;
  try {
    ({ aud } = decodeJwt(token));
  } catch {
    return undefined;
  }
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.length && aud.every((a) => typeof a === 'string')) return aud;
  return undefined;
}
