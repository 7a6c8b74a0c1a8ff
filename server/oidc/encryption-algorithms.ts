// The JWE algorithms Tollgate encrypts with (ID tokens, userinfo) and
// decrypts (request objects), as oidc-provider's `enabledJWA` allow-lists.
//
// Key management (`alg`), asymmetric only:
// - RSA-OAEP-256 (RFC 7518 §4.3) and ECDH-ES / ECDH-ES+A256KW (§4.6).
// - Never RSA1_5 (RFC 8725 §3.2: PKCS #1 v1.5 padding invites Bleichenbacher
//   oracles), nor RSA-OAEP with SHA-1.
// - Never the symmetric ones (`dir`, A*KW, A*GCMKW, PBES2): they take the
//   client secret as key, and Tollgate keeps only its digest
//   (services/client-secrets.ts).
// Content encryption (`enc`): AES-GCM only (RFC 7518 §5.3), A256GCM and
// A128GCM. A client that names an `alg` without an `enc` gets A256GCM
// (services/clients.ts), not the registration default A128CBC-HS256, which
// is not on this list.
export const ENCRYPTION_ALGS = ['RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW'] as const;
export const ENCRYPTION_ENCS = ['A256GCM', 'A128GCM'] as const;
/** What a client gets when it registers an encryption alg and no enc. */
export const DEFAULT_ENCRYPTION_ENC = 'A256GCM';

const algs = [...ENCRYPTION_ALGS];
const encs = [...ENCRYPTION_ENCS];

/**
 * oidc-provider's allow-lists. Discovery advertises these for ID tokens and
 * userinfo; for request objects it advertises those of them Tollgate's own
 * keys can decrypt (RSA-OAEP-256 and ECDH-ES: one alg per key, RFC 8725 §3.1).
 * Introspection and authorization responses are listed too, so that no
 * library default (which includes `dir` and A*KW) ever applies.
 */
export const ENCRYPTION_JWA = {
  idTokenEncryptionAlgValues: algs,
  idTokenEncryptionEncValues: encs,
  userinfoEncryptionAlgValues: algs,
  userinfoEncryptionEncValues: encs,
  requestObjectEncryptionAlgValues: algs,
  requestObjectEncryptionEncValues: encs,
  introspectionEncryptionAlgValues: algs,
  introspectionEncryptionEncValues: encs,
  authorizationEncryptionAlgValues: algs,
  authorizationEncryptionEncValues: encs,
};
