// The authentication context class references (`acr`) Tollgate's tokens
// carry (OpenID Connect Core §2; RFC 9068 §2.2.1 for access tokens), which an
// API compares with requireAcr (koa.ts). Tollgate advertises both in its
// discovery document (`acr_values_supported`).

/** The person used a second factor (TOTP, a recovery code, a passkey) or a passkey with user verification alone. */
export const ACR_MFA = 'urn:tollgate:mfa';
/** One factor only: a password, or an upstream provider's sign-in. */
export const ACR_SFA = 'urn:tollgate:sfa';
