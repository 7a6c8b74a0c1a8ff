// The FAPI 2.0 Security Profile (OpenID Foundation, Final, 2025-02-22) as a
// client profile: `clients add --profile fapi2` (docs/fapi.md has the
// checklist, item by item). Most of the profile is oidc-provider's own
// (features.fapi with profile '2.0': PKCE, redirect_uri in every request,
// the issuer as the only `aud` of a client assertion) or Tollgate's defaults
// for every client (code flow only, PKCE S256, codes live 60 s, `iss` in
// every authorization response). This module holds what is particular to a
// FAPI 2.0 client: what its registration must say, which algorithms its
// JWTs may use, and that its refresh tokens are not rotated.
import { errors } from 'oidc-provider';

import { FAPI2_SIGNING_ALGORITHMS, SECURITY_PROFILE_METADATA, SECURITY_PROFILES, type SecurityProfile } from './security-profiles.ts';

export { FAPI2_SIGNING_ALGORITHMS, SECURITY_PROFILE_METADATA } from './security-profiles.ts';

type Metadata = Record<string, unknown>;

export function isFapi2(client: unknown): boolean {
  return (client as Metadata | undefined)?.[SECURITY_PROFILE_METADATA] === 'fapi2';
}

/** features.fapi.profile: the library's FAPI 2.0 behaviour for FAPI 2.0 clients only. */
export function fapiProfileOf(client: unknown): '2.0' | undefined {
  return isFapi2(client) ? '2.0' : undefined;
}

/**
 * Checks a registration against the profile (run by oidc-provider's
 * extraClientMetadata validator, so the admin API and the CLI get the same
 * answer, RFC 7591's invalid_client_metadata). The registration service
 * fills in the implied metadata first; this refuses what contradicts it.
 */
export function validateSecurityProfile(value: unknown, metadata: Metadata): void {
  if (value === undefined) return;
  if (!SECURITY_PROFILES.includes(value as SecurityProfile)) {
    throw new errors.InvalidClientMetadata(`${SECURITY_PROFILE_METADATA} must be ${SECURITY_PROFILES.join(' or ')}`);
  }
  // "shall authenticate clients using mTLS or private_key_jwt" (mTLS is out of scope: no TLS termination here).
  if (metadata.token_endpoint_auth_method !== 'private_key_jwt') {
    throw new errors.InvalidClientMetadata(`${SECURITY_PROFILE_METADATA} fapi2 requires token_endpoint_auth_method private_key_jwt (and the client's public keys, jwks or jwks_uri)`);
  }
  // "shall reject authorization requests sent without PAR".
  if (metadata.require_pushed_authorization_requests !== true) {
    throw new errors.InvalidClientMetadata(`${SECURITY_PROFILE_METADATA} fapi2 requires require_pushed_authorization_requests`);
  }
  // "shall only issue sender-constrained access tokens" (DPoP).
  if (metadata.dpop_bound_access_tokens !== true) {
    throw new errors.InvalidClientMetadata(`${SECURITY_PROFILE_METADATA} fapi2 requires dpop_bound_access_tokens`);
  }
  // A registration whose keys can sign none of the profile's algorithms would lock the client out.
  const keys = (metadata.jwks as { keys?: Array<Record<string, unknown>> } | undefined)?.keys;
  if (keys && !keys.some(signsUnderFapi2)) {
    throw new errors.InvalidClientMetadata(`jwks has no key for ${FAPI2_SIGNING_ALGORITHMS.join(', ')}: a FAPI 2.0 client signs its assertions with one (an RSA key for PS256, P-256 for ES256, Ed25519 for EdDSA)`);
  }
  for (const field of ['id_token_signed_response_alg', 'userinfo_signed_response_alg', 'token_endpoint_auth_signing_alg', 'request_object_signing_alg']) {
    const alg = metadata[field];
    if (alg !== undefined && !FAPI2_SIGNING_ALGORITHMS.includes(alg as string)) {
      throw new errors.InvalidClientMetadata(`${field} must be one of ${FAPI2_SIGNING_ALGORITHMS.join(', ')} for ${SECURITY_PROFILE_METADATA} fapi2`);
    }
  }
}

/**
 * The library's check of a client assertion (private_key_jwt), widened:
 * for a FAPI 2.0 client, its `aud` must be the issuer itself, a string
 * (the library's own FAPI 2.0 rule, kept), and its `alg` one of the profile's.
 */
export function assertClientAssertion(issuer: string, claims: { aud?: unknown }, header: { alg?: unknown }, client: unknown): void {
  if (!isFapi2(client)) return;
  if (claims.aud !== issuer) throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
  if (!FAPI2_SIGNING_ALGORITHMS.includes(header.alg as string)) {
    throw new errors.InvalidClientAuth(`a FAPI 2.0 client's assertion must be signed with ${FAPI2_SIGNING_ALGORITHMS.join(', ')}`);
  }
}

/**
 * A request object (JAR) of a FAPI 2.0 client: the profile's algorithms, and
 * the library's own FAPI checks (exp, aud and nbf present; at most an hour
 * between nbf and exp), which replacing its hook would otherwise drop.
 */
export function assertRequestObject(claims: { exp?: unknown; nbf?: unknown; aud?: unknown }, header: { alg?: unknown }, client: unknown, pushed: boolean): void {
  if (!isFapi2(client)) return;
  // A pushed request comes back from storage as the library's own unsigned
  // object (its signature, if any, was checked when it was pushed), as the library itself allows.
  if (!pushed && !FAPI2_SIGNING_ALGORITHMS.includes(header.alg as string)) {
    throw new errors.InvalidRequestObject(`a FAPI 2.0 client's request object must be signed with ${FAPI2_SIGNING_ALGORITHMS.join(', ')}`);
  }
  for (const claim of ['exp', 'aud', 'nbf'] as const) {
    if (claims[claim] === undefined) throw new errors.InvalidRequestObject(`Request Object is missing the '${claim}' claim`);
  }
  const lifetime = Number(claims.exp) - Number(claims.nbf);
  if (!(lifetime > 0 && lifetime <= 3600)) throw new errors.InvalidRequestObject("Request Object 'exp' claim too far from 'nbf' claim");
}

/** Can this public JWK sign one of the profile's algorithms? (A key pinned to another `alg`, or used only for encryption, cannot.) */
function signsUnderFapi2(jwk: Record<string, unknown>): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined) return FAPI2_SIGNING_ALGORITHMS.includes(jwk.alg as string);
  return jwk.kty === 'RSA' || (jwk.kty === 'EC' && jwk.crv === 'P-256') || (jwk.kty === 'OKP' && jwk.crv === 'Ed25519');
}
