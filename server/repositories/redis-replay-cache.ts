// DPoP proofs already used (RFC 9449 §11.1), shared by every instance through
// Redis: with an in-memory cache per instance, a proof could be replayed once
// at each instance behind a balancer. One key per proof, written only if
// absent and expiring when the proof would be refused as too old anyway.
import { createHash } from 'node:crypto';
import type { ReplayCache } from '../resource-server/dpop.ts';
import { VerifierUnavailableError } from '../resource-server/errors.ts';
import type { Redis } from './redis.ts';

export function createRedisReplayCache(redis: Redis): ReplayCache {
  return {
    async firstUse(key, expiresAt) {
      // Hashed: the key carries the client's jti, of the client's choosing and length.
      const id = `tollgate:dpop:${createHash('sha256').update(key).digest('base64url')}`;
      try {
        return (await redis.set(id, '1', { NX: true, EXAT: Math.ceil(expiresAt) })) === 'OK';
      } catch (err) {
        // Unable to tell a first use from a replay: refuse for now (503), never accept.
        throw new VerifierUnavailableError('the DPoP replay cache is unavailable', { cause: err });
      }
    },
  };
}
