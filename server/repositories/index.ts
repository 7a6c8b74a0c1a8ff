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

export interface Repositories {
  readonly oidcModels: OidcModelRepository;
  readonly clients: ClientRepository;
  readonly accounts: AccountRepository;
  readonly loginThrottle: LoginThrottleRepository;
  readonly revokedTokens: RevokedTokenRepository;
  readonly sessionDevices: SessionDeviceRepository;
  readonly audit: AuditRepository;
  /** Readiness: resolves when the database answers. */
  ping(): Promise<void>;
}

export function createRepositories(db: Database): Repositories {
  return {
    oidcModels: createOidcModelRepository(db),
    clients: createClientRepository(db.prisma),
    accounts: createAccountRepository(db),
    loginThrottle: createLoginThrottleRepository(db),
    revokedTokens: createRevokedTokenRepository(db),
    sessionDevices: createSessionDeviceRepository(db),
    audit: createAuditRepository(db),
    async ping() {
      await db.query('SELECT 1');
    },
  };
}

export type { Database } from './database.ts';
export { openDatabase } from './database.ts';
export { applyMigrations } from './migrations.ts';
