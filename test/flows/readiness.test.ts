// /readyz names each dependency's state, so an operator sees which one is
// down: with a real PostgreSQL and a real Redis (one server, then a cluster)
// stopped in turn under a running Tollgate, the answer is 503 with
// Retry-After and blames only what is down; /healthz stays 200 throughout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirs, startTestTollgate, withTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, startRedisCluster, type RedisServer } from '../support/redis.ts';

async function readiness(issuer: string) {
  const started = performance.now();
  const res = await fetch(`${issuer}/readyz`);
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() as unknown, ms: performance.now() - started };
}

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, limitMs = 15_000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('readiness: PostgreSQL and Redis', { skip: requirePostgres() || requireRedis() }, () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let t: TestTollgate;

  before(async () => {
    postgres = await startPostgres();
    redis = await startRedis();
    t = await startTestTollgate({ databaseUrl: await createDatabase(postgres, 'readiness'), env: { REDIS_URL: redis.url } });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await redis?.stop();
    postgres?.stop();
  });

  test('both up: 200, each named ok', async () => {
    const ready = await readiness(t.issuer);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
  });

  test('Redis down, PostgreSQL up: 503 naming redis only', async () => {
    await redis.stop();
    try {
      const ready = await readiness(t.issuer);
      assert.equal(ready.status, 503);
      assert.equal(ready.retryAfter, '2');
      assert.deepEqual(ready.body, { status: 'unavailable', checks: { database: 'ok', redis: 'unavailable' } });
      assert.ok(ready.ms < 3_000, `answered after ${Math.round(ready.ms)} ms`);
      assert.equal((await fetch(`${t.issuer}/healthz`)).status, 200);
    } finally {
      await redis.start();
    }
    const back = await eventually(() => readiness(t.issuer), (r) => r.status === 200);
    assert.deepEqual(back.body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
  });

  test('PostgreSQL down, Redis up: 503 naming the database only', async () => {
    postgres.down();
    try {
      const ready = await readiness(t.issuer);
      assert.equal(ready.status, 503);
      assert.equal(ready.retryAfter, '2');
      assert.deepEqual(ready.body, { status: 'unavailable', checks: { database: 'unavailable', redis: 'ok' } });
      assert.ok(ready.ms < 3_000, `answered after ${Math.round(ready.ms)} ms`);
      assert.equal((await fetch(`${t.issuer}/healthz`)).status, 200);
    } finally {
      postgres.up();
    }
    const back = await eventually(() => readiness(t.issuer), (r) => r.status === 200);
    assert.deepEqual(back.body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
  });
});

describe('readiness without Redis, and with a Redis Cluster', { skip: requireRedis() }, () => {
  test('no Redis configured: only the database is checked', async () => {
    await withTestTollgate({}, async (t) => {
      const ready = await readiness(t.issuer);
      assert.equal(ready.status, 200);
      assert.deepEqual(ready.body, { status: 'ok', checks: { database: 'ok' } });
    });
  });

  test('a cluster master down: 503 naming redis only', async () => {
    const cluster = await startRedisCluster();
    try {
      await withTestTollgate({ env: { REDIS_CLUSTER_NODES: cluster.env } }, async (t) => {
        assert.deepEqual((await readiness(t.issuer)).body, { status: 'ok', checks: { database: 'ok', redis: 'ok' } });
        await cluster.stopNode(1);
        const ready = await eventually(() => readiness(t.issuer), (r) => r.status === 503);
        assert.equal(ready.status, 503);
        assert.equal(ready.retryAfter, '2');
        assert.deepEqual(ready.body, { status: 'unavailable', checks: { database: 'ok', redis: 'unavailable' } });
        assert.equal((await fetch(`${t.issuer}/healthz`)).status, 200, 'alive, though not ready');
      });
    } finally {
      await cluster.stop();
    }
  });
});
