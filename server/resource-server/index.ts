// tollgate/resource-server: verify Tollgate's access tokens in any Node API.
// Depends on jose only (and on Koa's types for the middleware).
export { createAccessTokenVerifier, verifyAccessToken, scopesOf, type AccessTokenClaims, type AccessTokenVerifier, type VerifierOptions, type VerifyOptions } from './verifier.ts';
export { requireAccessToken, requireScope, requireRole, requireAcr, authOf, type AcrRequirement, type Auth, type AuthState, type GuardOptions, type PublicRoute } from './koa.ts';
export { ACR_MFA, ACR_SFA } from './acr.ts';
export { createRequestAuthenticator, type AuthenticatedToken, type ProtectedRequest, type RequestAuthenticator } from './authenticate.ts';
export { DPOP_ALGORITHMS, createDpopVerifier, createMemoryReplayCache, type DpopOptions, type DpopVerifier, type ProofRequest, type ReplayCache } from './dpop.ts';
export { createRedisReplayCache, type RedisSetter } from './redis-replay-cache.ts';
export {
  BearerError, DpopError, InsufficientUserAuthenticationError, MissingTokenError, VerifierUnavailableError, bearerChallenge, bearerToken, challengesFor, presentedToken,
  type BearerErrorCode, type PresentedToken, type TokenScheme,
} from './errors.ts';
