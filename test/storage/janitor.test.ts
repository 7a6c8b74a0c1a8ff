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
      const repositories = createRepositories(opened.db);
      const { oidcModels, audit, loginThrottle } = repositories;
      const modelOf = (i: number) => (i % 2 ? 'AuthorizationCode' : 'Interaction');
      const save = async (n: number, expiresIn: number | undefined, prefix: string) => {
        for (let i = 0; i < n; i += 1) await oidcModels.upsert(modelOf(i), `${prefix}-${i}`, {}, expiresIn);
      };
      await save(2_500, -60, 'expired');
      await save(10, 3_600, 'live');
      await save(3, undefined, 'forever');
      // No repository writes the past: the year-old event and the stale counter are aged in place.
      await audit.append({ type: 'login.success' });
      await opened.db.execute("UPDATE audit_event SET at = now() - interval '400 days'");
      await audit.append({ type: 'login.success' });
      await loginThrottle.recordFailure('account:old@x.test', 900);
      await opened.db.execute("UPDATE login_throttle SET window_started_at = now() - interval '1 hour'");
      await loginThrottle.recordFailure('account:new@x.test', 900);

      const janitor = startJanitor(repositories, pino({ level: 'silent' }), { intervalMs: 3_600_000, batchSize: 1_000, maxBatches: 2, auditRetentionDays: 365 });
      try {
        const first = await janitor.sweep();
        assert.equal(first, 2_002, 'two batches of oidc rows (bounded), the stale login counter, the year-old audit event');
        assert.equal((await audit.list()).length, 1);
        const second = await janitor.sweep();
        assert.equal(second, 500, 'the rest of the expired rows');
        for (const [n, prefix] of [[10, 'live'], [3, 'forever']] as const) {
          for (let i = 0; i < n; i += 1) assert.ok(await oidcModels.find(modelOf(i), `${prefix}-${i}`), `${prefix}-${i} stays`);
        }
        // A window this long would still hold the old counter, were it there.
        assert.equal(await loginThrottle.get('account:old@x.test', 86_400), undefined);
        assert.equal((await loginThrottle.get('account:new@x.test', 900))?.failures, 1);
        assert.equal(await janitor.sweep(), 0);
      } finally {
        await janitor.stop();
      }
    });
  });
}
