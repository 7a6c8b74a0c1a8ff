// Tells every instance that something it may have cached has changed (a
// client's metadata or secret). With Redis it is a pub/sub channel; alone,
// it is this process. Caches also expire on their own (1 s for clients), so
// a message lost while Redis is down delays a change by that long at most.
import type { Logger } from '../logger.ts';
import { isCluster, REDIS_PREFIX, type Redis, type RedisClusterClient, type RedisServerClient } from './redis.ts';

export type CachedKind = 'client' | 'provider' | 'api';

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

/**
 * One server: classic PUBLISH/SUBSCRIBE on a connection of its own. A
 * cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7): the channel lives
 * in one slot, so a message goes to the one shard that owns it instead of
 * being broadcast over the cluster bus to every node as PUBLISH is, and
 * node-redis follows the channel when its slot moves or its master fails
 * over. Classic pub/sub stays on a single server, so instances of older and
 * newer versions still hear each other during a rolling upgrade.
 */
export async function redisInvalidation(redis: Redis, logger: Logger): Promise<CacheInvalidation> {
  const subscribers = handlers();
  const onMessage = (message: string) => {
    try {
      const { kind, id } = JSON.parse(message) as { kind: CachedKind; id: string };
      subscribers.run(kind, id);
    } catch {
      logger.warn({ channel: CHANNEL }, 'unreadable invalidation message ignored');
    }
  };
  const channel = isCluster(redis) ? await clusterChannel(redis, onMessage) : await serverChannel(redis, onMessage);
  return {
    async publish(kind, id) {
      // This instance at once, whatever Redis does; the others through the channel.
      subscribers.run(kind, id);
      try {
        await channel.publish(JSON.stringify({ kind, id }));
      } catch (err) {
        logger.warn({ kind, err: { message: (err as Error).message } }, 'cache invalidation not published; other instances catch up when their cache expires');
      }
    },
    subscribe: subscribers.add,
    close: channel.close,
  };
}

async function serverChannel(redis: RedisServerClient, onMessage: (message: string) => void) {
  // A connection in subscriber mode can do nothing else: its own client, which
  // node-redis resubscribes after a reconnect. Its SUBSCRIBE may wait in the
  // offline queue: a Redis down at start-up is subscribed to once it is found.
  const listener = redis.duplicate({ disableOfflineQueue: false });
  listener.on('error', () => { /* the main connection logs outages */ });
  listener.connect().catch(() => {});
  const subscribed = listener.subscribe(CHANNEL, onMessage).catch(() => {});
  // With Redis up, listen before serving; with Redis down, openRedis has already waited long enough.
  if (redis.isReady) await Promise.race([subscribed, new Promise((r) => setTimeout(r, 2_000).unref())]);
  return {
    publish: async (message: string) => {
      await redis.publish(CHANNEL, message);
    },
    close: async () => {
      // close() would wait for the queued SUBSCRIBE of a Redis never found: destroy() drops it and the reconnection attempts.
      if (listener.isReady) await listener.close().catch(() => listener.destroy());
      else listener.destroy();
    },
  };
}

async function clusterChannel(redis: RedisClusterClient, onMessage: (message: string) => void) {
  // The cluster client keeps a subscriber connection per shard of its own
  // and resubscribes it after a reconnect. It can subscribe only once it
  // knows the topology: now, or when it finds it (openRedis keeps trying).
  const subscribe = () => redis.sSubscribe(CHANNEL, onMessage).catch(() => {});
  if (redis.isReady) await subscribe();
  else redis.once('connect', () => void subscribe());
  return {
    publish: async (message: string) => {
      await redis.sPublish(CHANNEL, message);
    },
    close: async () => {
      // Closing the cluster client (its owner's job) closes the subscriber connections.
      if (redis.isReady) await redis.sUnsubscribe(CHANNEL, onMessage).catch(() => {});
    },
  };
}
