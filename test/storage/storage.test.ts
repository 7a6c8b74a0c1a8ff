// Runs the storage contract against the embedded database, a real PostgreSQL
// server, PostgreSQL with one Redis server, and PostgreSQL with a real
// three-master Redis Cluster.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, openRedis, type Database, type Redis } from '../../server/repositories/index.ts';
import { requireRedis, startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../support/redis.ts';
import pino from 'pino';
import { createAdapterFactory } from '../../server/oidc/adapter.ts';
import { storageContract, type Backend } from './contract.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

interface Opened { db: Database; redis?: Redis; cleanup: () => Promise<void> }

function suite(name: string, open: () => Promise<Opened>, skip: string | false = false, more?: () => void) {
  describe(`storage contract (${name})`, { skip }, () => {
    let backend: Backend;
    let opened: Opened;
    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
      const repositories = createRepositories(opened.db, { redis: opened.redis });
      backend = { repositories, adapter: createAdapterFactory(repositories), shortLivedInRedis: opened.redis !== undefined };
    });
    after(async () => {
      await opened.redis?.close();
      await opened.db.close();
      await opened.cleanup();
    });
    storageContract(() => backend);
    more?.();
  });
}

suite('embedded', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-contract-'));
  return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

let server: PostgresServer | undefined;
let redisServer: RedisServer | undefined;
let cluster: RedisCluster | undefined;
after(async () => {
  server?.stop();
  await redisServer?.stop();
  await cluster?.stop();
});
suite('postgresql', async () => {
  server = await startPostgres();
  const url = await createDatabase(server, 'contract');
  return { db: await openDatabase(loadConfig({ DATABASE_URL: url })), cleanup: async () => {} };
}, requirePostgres());

// The short-lived models and the login counters in Redis, the rest in PostgreSQL: the same contract.
suite('postgresql + redis', async () => {
  server ??= await startPostgres();
  redisServer = await startRedis();
  const url = await createDatabase(server, 'contract_redis');
  return { db: await openDatabase(loadConfig({ DATABASE_URL: url })), redis: await openRedis(redisServer.url, pino({ level: 'silent' })), cleanup: async () => {} };
}, requirePostgres() || requireRedis());

// The same contract on a Redis Cluster: every command and script must reach
// the master of its key's slot (the cluster client), and no script may touch
// two keys in different slots (CROSSSLOT) or a key it did not declare.
suite('postgresql + redis cluster', async () => {
  server ??= await startPostgres();
  cluster = await startRedisCluster();
  const url = await createDatabase(server, 'contract_redis_cluster');
  const redis = await openRedis({ clusterNodes: cluster.nodes }, pino({ level: 'silent' }));
  return { db: await openDatabase(loadConfig({ DATABASE_URL: url })), redis, cleanup: async () => {} };
}, requirePostgres() || requireRedis(), () => {
  test('the keys are spread over every master, and every tollgate:* key on every master expires', async () => {
    const keysByNode = await cluster!.keysOnEveryNode('tollgate:*');
    assert.ok(keysByNode.every((keys) => keys.length > 0), `keys per master: ${keysByNode.map((k) => k.length).join(', ')}`);
    const forever = keysByNode.flat().filter(({ ttl }) => ttl < 0);
    assert.deepEqual(forever, [], 'keys without a TTL');
  });
});
