// The janitor reclaims expired rows in bounded batches, and only expired ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, type Database } from '../../server/repositories/index.ts';
import { startJanitor } from '../../server/services/janitor.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<{ db: Database; cleanup: () => Promise<void> }>, string | false]> = [
  ['embedded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-janitor-'));
    return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }, false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return { db: await openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, 'janitor') })), cleanup: async () => {} };
  }, requirePostgres()],
];

for (const [name, open, skip] of backends) {
  describe(`janitor (${name})`, { skip }, () => {
    let opened: { db: Database; cleanup: () => Promise<void> };
    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
    });
    after(async () => {
      await opened.db.close();
      await opened.cleanup();
    });

    test('removes expired rows in bounded batches and keeps live ones', async () => {
      const { prisma } = opened.db;
      const past = new Date(Date.now() - 60_000);
      const future = new Date(Date.now() + 3_600_000);
      const rows = (n: number, expiresAt: Date | null, prefix: string) => Array.from({ length: n }, (_, i) => ({ model: i % 2 ? 'AuthorizationCode' : 'Interaction', id: `${prefix}-${i}`, payload: {}, expiresAt }));
      await prisma.oidcModel.createMany({ data: rows(2_500, past, 'expired') });
      await prisma.oidcModel.createMany({ data: [...rows(10, future, 'live'), ...rows(3, null, 'forever')] });
      await prisma.auditEvent.createMany({ data: [
        { type: 'login.success', at: new Date(Date.now() - 400 * 86_400_000) },
        { type: 'login.success', at: new Date() },
      ] });
      await prisma.loginThrottle.createMany({ data: [
        { key: 'account:old@x.test', failures: 3, windowStartedAt: new Date(Date.now() - 3_600_000) },
        { key: 'account:new@x.test', failures: 3, windowStartedAt: new Date() },
      ] });

      const janitor = startJanitor(createRepositories(opened.db), pino({ level: 'silent' }), { intervalMs: 3_600_000, batchSize: 1_000, maxBatches: 2, auditRetentionDays: 365 });
      try {
        const first = await janitor.sweep();
        assert.equal(first, 2_002, 'two batches of oidc rows (bounded), the stale login counter, the year-old audit event');
        assert.equal(await prisma.auditEvent.count(), 1);
        assert.equal(await prisma.oidcModel.count({ where: { id: { startsWith: 'expired' } } }), 500);
        const second = await janitor.sweep();
        assert.equal(second, 500);
        assert.equal(await prisma.oidcModel.count(), 13, 'live and never-expiring rows stay');
        assert.deepEqual((await prisma.loginThrottle.findMany()).map((r) => r.key), ['account:new@x.test']);
        assert.equal(await janitor.sweep(), 0);
      } finally {
        await janitor.stop();
      }
    });
  });
}
