// Tells every instance that something it may have cached has changed (a
// client's metadata or secret). With Redis it is a pub/sub channel; alone,
// it is this process. Caches also expire on their own (1 s for clients), so
// a message lost while Redis is down delays a change by that long at most.
import type { Logger } from '../logger.ts';
import { REDIS_PREFIX, type Redis } from './redis.ts';

export type CachedKind = 'client';

export interface CacheInvalidation {
  /** Every instance, this one included, drops `id` of `kind`. Never throws: a failure is logged. */
  publish(kind: CachedKind, id: string): Promise<void>;
  subscribe(kind: CachedKind, drop: (id: string) => void): void;
  close(): Promise<void>;
}

const CHANNEL = `${REDIS_PREFIX}invalidate`;

function handlers() {
  const byKind = new Map<CachedKind, Array<(id: string) => void>>();
  return {
    add(kind: CachedKind, drop: (id: string) => void) {
      byKind.set(kind, [...(byKind.get(kind) ?? []), drop]);
    },
    run(kind: CachedKind, id: string) {
      for (const drop of byKind.get(kind) ?? []) drop(id);
    },
  };
}

export function localInvalidation(): CacheInvalidation {
  const subscribers = handlers();
  return {
    async publish(kind, id) {
      subscribers.run(kind, id);
    },
    subscribe: subscribers.add,
    async close() {},
  };
}

export async function redisInvalidation(redis: Redis, logger: Logger): Promise<CacheInvalidation> {
  const subscribers = handlers();
  // A connection in subscriber mode can do nothing else: its own client, which node-redis resubscribes after a reconnect.
  const listener = redis.duplicate();
  listener.on('error', () => { /* the main connection logs outages */ });
  listener.connect().catch(() => {});
  await listener.subscribe(CHANNEL, (message) => {
    try {
      const { kind, id } = JSON.parse(message) as { kind: CachedKind; id: string };
      subscribers.run(kind, id);
    } catch {
      logger.warn({ channel: CHANNEL }, 'unreadable invalidation message ignored');
    }
  }).catch(() => {});
  return {
    async publish(kind, id) {
      // This instance at once, whatever Redis does; the others through the channel.
      subscribers.run(kind, id);
      try {
        await redis.publish(CHANNEL, JSON.stringify({ kind, id }));
      } catch (err) {
        logger.warn({ kind, err: { message: (err as Error).message } }, 'cache invalidation not published; other instances catch up when their cache expires');
      }
    },
    subscribe: subscribers.add,
    async close() {
      await listener.close().catch(() => {});
    },
  };
}
