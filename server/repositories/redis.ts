// The Redis connection (node-redis), when REDIS_URL is set. Commands fail at
// once while the connection is down (no offline queue): a request that needs
// Redis then answers 503 instead of hanging, and the client reconnects in the
// background, so Tollgate recovers without a restart.
import { createClient } from 'redis';
import type { Logger } from '../logger.ts';

function connect(url: string) {
  return createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2_000,
      // Retry every 100 ms at first, then every second: a restarted Redis is found within a second.
      reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 1_000),
    },
  });
}

export type Redis = ReturnType<typeof connect>;

/** Every key Tollgate writes starts with this, so one Redis can serve other things too. */
export const REDIS_PREFIX = 'tollgate:';

export async function openRedis(url: string, logger: Logger, name = 'main'): Promise<Redis> {
  const client = connect(url);
  let down = false;
  // Without a listener node-redis would throw connection errors at the process.
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.error({ redis: name, err: { message: err.message } }, 'redis connection lost');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ redis: name }, 'redis connection restored');
  });
  // A Redis that is down at start-up does not keep Tollgate from starting:
  // requests that need it answer 503 (and /readyz says not ready) until the
  // background reconnection finds it.
  const connecting = client.connect();
  connecting.catch(() => {});
  const connected = await Promise.race([connecting.then(() => true, () => false), new Promise<false>((r) => setTimeout(r, 2_000, false).unref())]);
  if (!connected) logger.error({ redis: name }, 'redis not reachable at start-up; retrying in the background');
  return client;
}
