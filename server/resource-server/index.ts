// tollgate/resource-server: verify Tollgate's access tokens in any Node API.
// Depends on jose only (and on Koa's types for the middleware).
export { createAccessTokenVerifier, verifyAccessToken, scopesOf, type AccessTokenClaims, type AccessTokenVerifier, type VerifierOptions } from './verifier.ts';
export { requireAccessToken, requireScope, requireRole, authOf, type Auth, type AuthState, type GuardOptions, type PublicRoute } from './koa.ts';
export { BearerError, MissingTokenError, VerifierUnavailableError, bearerChallenge, bearerToken, type BearerErrorCode } from './errors.ts';
