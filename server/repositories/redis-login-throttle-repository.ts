// Failed sign-in counters in Redis: one hash per key, expiring with its
// window, so every instance counts the same attempts. Same contract as
// login-throttle-repository.ts.
import type { LoginThrottleRepository, ThrottleState } from './login-throttle-repository.ts';
import { REDIS_PREFIX, type Redis } from './redis.ts';

const keyOf = (key: string) => `${REDIS_PREFIX}throttle:${key}`;

// KEYS: the counter; ARGV: window (s), now (ms). Opens a window or counts in it; returns failures and the window's start.
const RECORD = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'failures', 1, 'started', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return {1, ARGV[2]}
end
return {redis.call('HINCRBY', KEYS[1], 'failures', 1), redis.call('HGET', KEYS[1], 'started')}`;

const FORGIVE = `
if tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'failures', -1) end
return 1`;

export function createRedisLoginThrottleRepository(redis: Redis): LoginThrottleRepository {
  const state = (failures: unknown, started: unknown, windowSeconds: number): ThrottleState => ({
    failures: Number(failures),
    resetsAt: new Date(Number(started) + windowSeconds * 1000),
  });
  const recordFailure = async (key: string, windowSeconds: number) => {
    const [failures, started] = (await redis.eval(RECORD, { keys: [keyOf(key)], arguments: [String(windowSeconds), String(Date.now())] })) as [number, string];
    return state(failures, started, windowSeconds);
  };
  const reset = async (key: string) => {
    await redis.del(keyOf(key));
  };
  const forgive = async (key: string) => {
    await redis.eval(FORGIVE, { keys: [keyOf(key)] });
  };
  return {
    async get(key, windowSeconds) {
      const [failures, started] = await redis.hmGet(keyOf(key), ['failures', 'started']);
      return failures && started ? state(failures, started, windowSeconds) : undefined;
    },
    recordFailure,
    // node-redis pipelines commands sent together: one round trip either way.
    recordFailures: (keys, windowSeconds) => Promise.all(keys.map((key) => recordFailure(key, windowSeconds))),
    reset,
    forgive,
    async resetAndForgive(resetKey, forgiveKey) {
      await Promise.all([reset(resetKey), forgive(forgiveKey)]);
    },
    // Redis expires the counters itself.
    purgeExpired: async () => 0,
  };
}
