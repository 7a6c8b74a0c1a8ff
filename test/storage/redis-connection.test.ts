// The Redis connection when Redis is not there yet at start-up: Tollgate
// starts anyway, what needs Redis is an outage (503) meanwhile, and once
// Redis is found everything works, cache invalidation included, without a
// restart. For one server and for a cluster (whose client, unlike the
// single-server one, gives up on its own when no seed answers).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openRedis, redisInvalidation, type Redis, type RedisTarget } from '../../server/repositories/index.ts';
import { pingRedis } from '../../server/repositories/redis.ts';
import { createRedisLoginThrottleRepository } from '../../server/repositories/redis-login-throttle-repository.ts';
import { isUnavailable } from '../../server/repositories/unavailable.ts';
import { requireRedis, startRedis, startRedisCluster } from '../support/redis.ts';

const silent = pino({ level: 'silent' });

async function eventually(check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Opens Tollgate's connection while Redis is down, brings Redis up, and checks both sides. */
async function downAtStartUp(target: RedisTarget, down: () => Promise<void>, up: () => Promise<void>, peer: () => Promise<Redis>) {
  const opened: Redis[] = [];
  try {
    await down();
    // Shutting down before Redis was ever found neither hangs nor leaves reconnection attempts behind.
    const early = await openRedis(target, silent, 'early');
    const earlyInvalidation = await redisInvalidation(early, silent);
    const closing = Date.now();
    await earlyInvalidation.close();
    await early.close().catch(() => early.destroy());
    // A bound against hanging (the old client retried for ever), not a speed target: generous for a loaded machine.
    assert.ok(Date.now() - closing < 10_000, `closed after ${Date.now() - closing} ms`);

    const started = Date.now();
    const redis = await openRedis(target, silent, 'test');
    opened.push(redis);
    const invalidation = await redisInvalidation(redis, silent);
    // Start-up goes on without Redis (it waits about two seconds); again a bound against hanging, not a speed target.
    assert.ok(Date.now() - started < 10_000, `start-up waited ${Date.now() - started} ms for Redis`);
    const dropped: string[] = [];
    invalidation.subscribe('client', (id) => dropped.push(id));
    const throttle = createRedisLoginThrottleRepository(redis);
    await assert.rejects(throttle.get('k', 60), (err) => isUnavailable(err), 'an outage (503), not a bug (500)');
    await assert.rejects(pingRedis(redis), 'not ready');

    await up();
    assert.ok(await eventually(async () => (await pingRedis(redis), true), 10_000), 'Redis found again without a restart');
    await throttle.recordFailure('k', 60);
    assert.equal((await throttle.get('k', 60))?.failures, 1);
    // Another instance's announcement reaches this one: it subscribed once Redis was there.
    const other = await peer();
    opened.push(other);
    const otherInvalidation = await redisInvalidation(other, silent);
    assert.ok(await eventually(async () => {
      await otherInvalidation.publish('client', 'changed-client');
      await new Promise((r) => setTimeout(r, 50));
      return dropped.includes('changed-client');
    }, 5_000), 'the invalidation subscription was made once Redis was found');
    await otherInvalidation.close();
    await invalidation.close();
  } finally {
    for (const redis of opened) await redis.close().catch(() => {});
  }
}

describe('Redis down at start-up', { skip: requireRedis() }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  test('one server', { timeout: 60_000 }, async () => {
    const server = await startRedis();
    cleanups.push(server.stop);
    await downAtStartUp({ url: server.url }, server.stop, server.start, () => openRedis(server.url, silent, 'peer'));
  });

  test('a cluster: no seed answers, then the cluster is found', { timeout: 60_000 }, async () => {
    const cluster = await startRedisCluster();
    cleanups.push(cluster.stop);
    const all = [0, 1, 2];
    await downAtStartUp(
      { clusterNodes: cluster.nodes },
      async () => { await Promise.all(all.map(cluster.stopNode)); },
      async () => { await Promise.all(all.map(cluster.startNode)); },
      () => openRedis({ clusterNodes: cluster.nodes }, silent, 'peer'),
    );
  });
});
