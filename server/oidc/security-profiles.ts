// The client profiles Tollgate offers and what each implies, as data: the
// registration service (and the CLI, which must start without oidc-provider)
// reads them; oidc/fapi.ts enforces them inside the provider.

/** Client metadata naming the security profile a client follows; today only `fapi2`. */
export const SECURITY_PROFILE_METADATA = 'security_profile';

export const SECURITY_PROFILES = ['fapi2'] as const;
export type SecurityProfile = (typeof SECURITY_PROFILES)[number];

/**
 * FAPI 2.0 Security Profile, "Cryptography and secrets": JWS with PS256,
 * ES256 or EdDSA (Ed25519) only; RS256 (PKCS#1 v1.5) is not among them.
 * `Ed25519` is the fully-specified name (JOSE "Fully-Specified Algorithms") for EdDSA with Ed25519.
 */
export const FAPI2_SIGNING_ALGORITHMS: readonly string[] = Object.freeze(['PS256', 'ES256', 'EdDSA', 'Ed25519']);

/** The ID-token algorithm a FAPI 2.0 client gets unless it registers another of FAPI2_SIGNING_ALGORITHMS we sign with. */
export const FAPI2_DEFAULT_ID_TOKEN_ALG = 'ES256';

/** Metadata a FAPI 2.0 registration implies (RFC 9126 §6, RFC 9449 §5.2). */
export const FAPI2_IMPLIED_METADATA = Object.freeze({
  token_endpoint_auth_method: 'private_key_jwt',
  require_pushed_authorization_requests: true,
  dpop_bound_access_tokens: true,
});
