// Runs the storage contract against the embedded database and a real PostgreSQL server.
import { after, before, describe } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, type Database } from '../../server/repositories/index.ts';
import { createAdapterFactory } from '../../server/oidc/adapter.ts';
import { storageContract, type Backend } from './contract.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

function suite(name: string, open: () => Promise<{ db: Database; cleanup: () => Promise<void> }>, skip: string | false = false) {
  describe(`storage contract (${name})`, { skip }, () => {
    let backend: Backend;
    let opened: { db: Database; cleanup: () => Promise<void> };
    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
      const repositories = createRepositories(opened.db);
      backend = { repositories, adapter: createAdapterFactory(repositories) };
    });
    after(async () => {
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
after(() => server?.stop());
suite('postgresql', async () => {
  server = await startPostgres();
  const url = await createDatabase(server, 'contract');
  return { db: await openDatabase(loadConfig({ DATABASE_URL: url })), cleanup: async () => {} };
}, requirePostgres());
