// A BffStore in Redis, for a BFF run as several instances: a back-channel
// logout received by one instance (the deny-list entry of the ended
// session, the logout token's jti) is seen by every other at once. It takes
// a connected node-redis client (`redis` 4 or 5, a client or a cluster
// client) and imports nothing of it, so the package keeps its two
// dependencies. With ioredis:
//   { get: (k) => r.get(k), set: (k, v, o) => o.NX ? r.set(k, v, 'EX', o.EX, 'NX') : r.set(k, v, 'EX', o.EX), del: (k) => r.del(k) }
import type { BffStore } from './store.ts';

/** What the store needs of a Redis client: node-redis's `get`, `set` with `EX` (and `NX`), `del`. */
export interface RedisCommands {
  get(key: string): Promise<string | null | undefined | {}>;
  set(key: string, value: string, options: { EX: number; NX?: true }): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

export function createRedisStore(redis: RedisCommands): BffStore {
  // Redis expiries are whole seconds, at least one.
  const seconds = (ttl: number) => Math.max(1, Math.ceil(ttl));
  return {
    async get(key) {
      const value = await redis.get(key);
      return typeof value === 'string' ? value : undefined;
    },
    async set(key, value, ttlSeconds) {
      await redis.set(key, value, { EX: seconds(ttlSeconds) });
    },
    async add(key, value, ttlSeconds) {
      // SET NX: written only if absent, in one command (no read-then-write race between instances).
      return (await redis.set(key, value, { EX: seconds(ttlSeconds), NX: true })) === 'OK';
    },
    async delete(key) {
      await redis.del(key);
    },
  };
}
