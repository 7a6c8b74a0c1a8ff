// Runs the storage contract against the embedded database and a real PostgreSQL server.
import { after, before, describe } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, openRedis, type Database, type Redis } from '../../server/repositories/index.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';
import pino from 'pino';
import { createAdapterFactory } from '../../server/oidc/adapter.ts';
import { storageContract, type Backend } from './contract.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

interface Opened { db: Database; redis?: Redis; cleanup: () => Promise<void> }

function suite(name: string, open: () => Promise<Opened>, skip: string | false = false) {
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
  });
}

suite('embedded', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-contract-'));
  return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

let server: PostgresServer | undefined;
let redisServer: RedisServer | undefined;
after(async () => {
  server?.stop();
  await redisServer?.stop();
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
