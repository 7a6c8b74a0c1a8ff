// The Redis connection (node-redis): one server (REDIS_URL) or a Redis
// Cluster (REDIS_CLUSTER_NODES). Commands fail at once while a connection is
// down (no offline queue): a request that needs Redis then answers 503
// instead of hanging, and the client reconnects in the background, so
// Tollgate recovers without a restart.
//
// Both kinds serve the same repositories: every key Tollgate writes is
// touched by one command or one single-key script at a time (see
// redis-oidc-model-repository.ts), so nothing depends on two keys sharing a
// cluster slot; the cluster client routes each command to the master of its
// key's slot and follows MOVED/ASK redirections and failovers.
import { createClient, createCluster } from 'redis';
import type { Logger } from '../logger.ts';

/** Where Redis is: one server, or the seed nodes of a cluster (the client discovers the rest). */
export type RedisTarget = { readonly url: string } | { readonly clusterNodes: readonly string[] };

/** The Redis target the configuration names, if any. */
export function redisTargetOf(config: { readonly redisUrl?: string; readonly redisClusterNodes?: readonly string[] }): RedisTarget | undefined {
  if (config.redisClusterNodes?.length) return { clusterNodes: config.redisClusterNodes };
  return config.redisUrl ? { url: config.redisUrl } : undefined;
}

const socket = {
  connectTimeout: 2_000,
  // Retry every 100 ms at first, then every second: a restarted Redis is found within a second.
  reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 1_000),
};

function connectServer(url: string) {
  return createClient({ url, disableOfflineQueue: true, socket });
}

function connectCluster(nodes: readonly string[]) {
  // The seeds' URLs serve topology discovery only; node-redis builds the
  // connections to the nodes it discovers from `defaults`, so the
  // credentials and TLS go there too (config.ts requires them to agree).
  const seed = new URL(nodes[0]!);
  return createCluster({
    rootNodes: nodes.map((url) => ({ url })),
    defaults: {
      ...(seed.username ? { username: decodeURIComponent(seed.username) } : {}),
      ...(seed.password ? { password: decodeURIComponent(seed.password) } : {}),
      disableOfflineQueue: true,
      socket: { ...socket, ...(seed.protocol === 'rediss:' ? { tls: true as const } : {}) },
    },
  });
}

export type RedisServerClient = ReturnType<typeof connectServer>;
export type RedisClusterClient = ReturnType<typeof connectCluster>;
export type Redis = RedisServerClient | RedisClusterClient;

export function isCluster(redis: Redis): redis is RedisClusterClient {
  return 'masters' in redis;
}

/** Every key Tollgate writes starts with this, so one Redis can serve other things too. */
export const REDIS_PREFIX = 'tollgate:';

/** Readiness: every master answers (with a cluster, a key on a master that is down cannot be reached). */
export async function pingRedis(redis: Redis): Promise<void> {
  if (!isCluster(redis)) {
    await redis.ping();
    return;
  }
  if (!redis.isReady) throw new Error('redis cluster not connected');
  await Promise.all(redis.masters.map(async (master) => (await redis.nodeClient(master)).ping()));
}

export async function openRedis(target: RedisTarget | string, logger: Logger, name = 'main'): Promise<Redis> {
  const where = typeof target === 'string' ? { url: target } : target;
  const client = 'url' in where ? connectServer(where.url) : connectCluster(where.clusterNodes);
  watchOutages(client, logger, name);
  // A Redis that is down at start-up does not keep Tollgate from starting:
  // requests that need it answer 503 (and /readyz says not ready) until the
  // background reconnection finds it.
  const connecting = connectUntilFound(client, logger, name);
  const connected = await Promise.race([connecting.then(() => true, () => false), new Promise<false>((r) => setTimeout(r, 2_000, false).unref())]);
  if (!connected) logger.error({ redis: name }, 'redis not reachable at start-up; retrying in the background');
  return client;
}

/** One line when a connection is lost and one when it is back (per node, for a cluster), however often node-redis retries. */
function watchOutages(client: Redis, logger: Logger, name: string) {
  const down = new Set<string>();
  const lost = (node: string, err: Error) => {
    if (down.has(node)) return;
    down.add(node);
    logger.error({ redis: name, ...(node ? { node } : {}), err: { message: err.message } }, 'redis connection lost');
  };
  const restored = (node: string) => {
    if (!down.delete(node)) return;
    logger.info({ redis: name, ...(node ? { node } : {}) }, 'redis connection restored');
  };
  // Without an 'error' listener node-redis would throw connection errors at the process.
  client.on('error', (err: Error) => lost('', err));
  client.on('ready', () => restored(''));
  if (!isCluster(client)) return;
  client.on('connect', () => restored(''));
  client.on('node-error', (err: Error, node: { host: string; port: number }) => lost(`${node.host}:${node.port}`, err));
  client.on('node-ready', (node: { host: string; port: number }) => restored(`${node.host}:${node.port}`));
}

/**
 * A single-server client retries its first connection by itself. A cluster
 * client whose seeds all fail to answer gives up (its connect() rejects and
 * it stays closed): try again every second until the topology is found or
 * the client is closed.
 */
function connectUntilFound(client: Redis, logger: Logger, name: string): Promise<unknown> {
  if (!isCluster(client)) {
    const connecting = client.connect();
    connecting.catch(() => {});
    return connecting;
  }
  // node-redis emits 'disconnect' from close() and destroy() only: the owner is done with it.
  let closed = false;
  client.once('disconnect', () => {
    closed = true;
  });
  const attempt = async (): Promise<unknown> => {
    try {
      return await client.connect();
    } catch (err) {
      if (closed) throw err;
      logger.debug({ redis: name, err: { message: (err as Error).message } }, 'redis cluster topology not found; retrying');
      await new Promise((r) => setTimeout(r, 1_000).unref());
      if (closed) throw err;
      return attempt();
    }
  };
  const connecting = attempt();
  connecting.catch(() => {});
  return connecting;
}
