// Revocation records of JWT access tokens, by jti, kept until the token
// would have expired (after that the signature check refuses it anyway).
import type { Database } from './database.ts';
import { storable } from './text.ts';

export interface RevokedTokenRepository {
  revoke(jti: string, expiresAt: Date): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
  /** Deletes up to `limit` records past their token's expiry; returns how many went. */
  purgeExpired(limit: number): Promise<number>;
}

export function createRevokedTokenRepository(db: Pick<Database, 'query' | 'execute'>): RevokedTokenRepository {
  return {
    async revoke(jti, expiresAt) {
      if (!storable(jti)) return;
      await db.execute('INSERT INTO revoked_token (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING', [jti, expiresAt]);
    },
    async isRevoked(jti) {
      if (!storable(jti)) return false;
      return (await db.query('SELECT 1 FROM revoked_token WHERE jti = $1', [jti])).length > 0;
    },
    async purgeExpired(limit) {
      return db.execute('DELETE FROM revoked_token WHERE jti IN (SELECT jti FROM revoked_token WHERE expires_at < now() LIMIT $1)', [limit]);
    },
  };
}
