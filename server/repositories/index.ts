// The storage boundary: everything above this folder gets these interfaces
// and never imports Prisma, pg, PGlite or Redis itself.
import type { Database } from './database.ts';
import { createAccountRepository, type AccountRepository } from './account-repository.ts';
import { createClientRepository, type ClientRepository } from './client-repository.ts';
import { createOidcModelRepository, type OidcModelRepository } from './oidc-model-repository.ts';
import { createLoginThrottleRepository, type LoginThrottleRepository } from './login-throttle-repository.ts';
import { createRevokedTokenRepository, type RevokedTokenRepository } from './revoked-token-repository.ts';
import { createSessionDeviceRepository, type SessionDeviceRepository } from './session-device-repository.ts';
import { createAuditRepository, type AuditRepository } from './audit-repository.ts';
import { createAccountTokenRepository, type AccountTokenRepository } from './account-token-repository.ts';
import { createUpstreamProviderRepository, type UpstreamProviderRepository } from './upstream-provider-repository.ts';
import { createLinkedIdentityRepository, type LinkedIdentityRepository } from './linked-identity-repository.ts';
import { createTotpFactorRepository, type TotpFactorRepository } from './totp-factor-repository.ts';
import { createRecoveryCodeRepository, type RecoveryCodeRepository } from './recovery-code-repository.ts';
import { createWebauthnCredentialRepository, type WebauthnCredentialRepository } from './webauthn-credential-repository.ts';
import { createApiResourceRepository, type ApiResourceRepository } from './api-resource-repository.ts';
import { pingRedis, type Redis } from './redis.ts';
import type { CacheInvalidation } from './invalidation.ts';
import { createRedisOidcModelRepository } from './redis-oidc-model-repository.ts';
import { tieredOidcModelRepository } from './tiered-oidc-model-repository.ts';
import { createRedisLoginThrottleRepository } from './redis-login-throttle-repository.ts';

export interface Repositories {
  readonly oidcModels: OidcModelRepository;
  readonly clients: ClientRepository;
  readonly accounts: AccountRepository;
  readonly loginThrottle: LoginThrottleRepository;
  readonly revokedTokens: RevokedTokenRepository;
  readonly sessionDevices: SessionDeviceRepository;
  readonly audit: AuditRepository;
  /** Digests of the tokens in e-mailed links (services/account-links.ts). */
  readonly accountTokens: AccountTokenRepository;
  /** Upstream identity providers, their secrets encrypted (server/federation/). */
  readonly upstreamProviders: UpstreamProviderRepository;
  /** Accounts' identities at upstream providers. */
  readonly linkedIdentities: LinkedIdentityRepository;
  /** Accounts' TOTP authenticators, secrets encrypted (server/mfa/). */
  readonly totpFactors: TotpFactorRepository;
  /** Digests of accounts' unused recovery codes (server/mfa/). */
  readonly recoveryCodes: RecoveryCodeRepository;
  /** Accounts' passkeys and the WebAuthn challenges handed out (server/mfa/passkeys.ts). */
  readonly webauthnCredentials: WebauthnCredentialRepository;
  /** APIs (resource servers) clients ask tokens for with `resource` (services/apis.ts). */
  readonly apiResources: ApiResourceRepository;
  /** Readiness: resolves when the database (and Redis, when configured) answers. */
  ping(): Promise<void>;
  /** Readiness, one check per dependency (`database`, and `redis` when configured), for /readyz to name what is down. */
  readonly readiness: Readonly<Record<string, () => Promise<void>>>;
}

/** With Redis, the short-lived oidc-provider models and the login counters live there; everything durable stays in the database. */
export function createRepositories(db: Database, options: { redis?: Redis; invalidation?: CacheInvalidation } = {}): Repositories {
  const { redis } = options;
  const oidcModels = createOidcModelRepository(db);
  const readiness = {
    database: async () => { await db.query('SELECT 1'); },
    ...(redis ? { redis: () => pingRedis(redis) } : {}),
  };
  return {
    oidcModels: redis ? tieredOidcModelRepository(oidcModels, createRedisOidcModelRepository(redis)) : oidcModels,
    clients: createClientRepository(db, options.invalidation),
    accounts: createAccountRepository(db),
    loginThrottle: redis ? createRedisLoginThrottleRepository(redis) : createLoginThrottleRepository(db),
    revokedTokens: createRevokedTokenRepository(db),
    sessionDevices: createSessionDeviceRepository(db),
    audit: createAuditRepository(db),
    accountTokens: createAccountTokenRepository(db),
    upstreamProviders: createUpstreamProviderRepository(db, options.invalidation),
    linkedIdentities: createLinkedIdentityRepository(db),
    totpFactors: createTotpFactorRepository(db),
    recoveryCodes: createRecoveryCodeRepository(db),
    webauthnCredentials: createWebauthnCredentialRepository(db),
    apiResources: createApiResourceRepository(db, options.invalidation),
    readiness,
    async ping() {
      await Promise.all(Object.values(readiness).map((check) => check()));
    },
  };
}

export type { Database } from './database.ts';
export { openDatabase } from './database.ts';
export { applyMigrations } from './migrations.ts';
export { ProviderInUseError } from './upstream-provider-repository.ts';
export { openRedis, redisTargetOf, type Redis, type RedisTarget } from './redis.ts';
export { localInvalidation, redisInvalidation, type CacheInvalidation } from './invalidation.ts';
