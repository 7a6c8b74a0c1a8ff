// DPoP proofs already used (RFC 9449 §11.1), shared by every instance of an
// API through Redis: with an in-memory cache per instance, a proof could be
// replayed once at each instance behind a balancer. One key per proof,
// written only if absent and expiring when the proof would be refused as too
// old anyway. Tollgate's own userinfo and admin API use it with REDIS_URL.
import { createHash } from 'node:crypto';
import type { ReplayCache } from './dpop.ts';
import { VerifierUnavailableError } from './errors.ts';

/**
 * What the cache needs of a Redis client: node-redis's `set` with `NX` and
 * `EXAT` (a client or a cluster client of `redis` 4 or 5). With ioredis:
 * `{ set: (k, v, o) => ioredis.set(k, v, 'EXAT', o.EXAT, 'NX') }`.
 */
export interface RedisSetter {
  set(key: string, value: string, options: { NX: true; EXAT: number }): Promise<unknown>;
}

export function createRedisReplayCache(redis: RedisSetter, options: { prefix?: string } = {}): ReplayCache {
  const prefix = options.prefix ?? 'tollgate:dpop:';
  return {
    async firstUse(key, expiresAt) {
      // Hashed: the key carries the client's jti, of the client's choosing and length.
      const id = `${prefix}${createHash('sha256').update(key).digest('base64url')}`;
      try {
        return (await redis.set(id, '1', { NX: true, EXAT: Math.ceil(expiresAt) })) === 'OK';
      } catch (err) {
        // Unable to tell a first use from a replay: refuse for now (503), never accept.
        throw new VerifierUnavailableError('the DPoP replay cache is unavailable', { cause: err });
      }
    },
  };
}
