// The tokens of e-mailed links (services/account-links.ts over
// repositories/account-token-repository.ts), on the embedded database and on
// a real PostgreSQL server: single use (also under concurrency), expiry,
// purpose, tampering, only the newest link of a purpose, revocation, the
// janitor's purge, and no raw token anywhere in the table.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, type Database } from '../../server/repositories/index.ts';
import { createAccountLinks, type AccountLinks } from '../../server/services/account-links.ts';
import { startJanitor } from '../../server/services/janitor.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<{ db: Database; cleanup: () => Promise<void> }>, string | false]> = [
  ['embedded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-links-'));
    return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }, false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return { db: await openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, 'account_links') })), cleanup: async () => {} };
  }, requirePostgres()],
];

for (const [name, open, skip] of backends) {
  describe(`account link tokens (${name})`, { skip }, () => {
    let opened: { db: Database; cleanup: () => Promise<void> };
    let links: AccountLinks;
    const account = async () => {
      const id = randomUUID();
      await opened.db.execute("INSERT INTO account (id, email, password_hash, updated_at) VALUES ($1, $2, 'not-a-hash', now())", [id, `${id}@example.test`]);
      return id;
    };
    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
      links = createAccountLinks(createRepositories(opened.db).accountTokens);
    });
    after(async () => {
      await opened.db.close();
      await opened.cleanup();
    });

    test('a token is 32 random bytes in base64url; inspect finds it without using it; redeem uses it once', async () => {
      const id = await account();
      const token = await links.issue('verify_email', id, { ttlSeconds: 600 });
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await links.inspect('verify_email', token), { accountId: id, data: null });
      assert.deepEqual(await links.inspect('verify_email', token), { accountId: id, data: null }, 'inspect does not use it');
      assert.deepEqual(await links.redeem('verify_email', token), { accountId: id, data: null });
      assert.equal(await links.redeem('verify_email', token), undefined, 'a second redemption fails');
      assert.equal(await links.inspect('verify_email', token), undefined, 'and a used token is no longer valid');
    });

    test('data travels with the token', async () => {
      const id = await account();
      const token = await links.issue('change_email', id, { ttlSeconds: 600, data: { email: 'new@example.test' } });
      assert.deepEqual(await links.redeem('change_email', token), { accountId: id, data: { email: 'new@example.test' } });
    });

    test('of 20 concurrent redemptions of one token exactly one succeeds', async () => {
      const id = await account();
      const token = await links.issue('reset_password', id, { ttlSeconds: 600 });
      const results = await Promise.all(Array.from({ length: 20 }, () => links.redeem('reset_password', token)));
      assert.equal(results.filter((r) => r?.accountId === id).length, 1);
      assert.equal(results.filter((r) => r === undefined).length, 19);
    });

    test('an expired token is refused', async () => {
      const id = await account();
      const token = await links.issue('reset_password', id, { ttlSeconds: 600 });
      // No code path writes the past: aged in place.
      await opened.db.execute("UPDATE account_token SET expires_at = now() - interval '1 second' WHERE account_id = $1", [id]);
      assert.equal(await links.inspect('reset_password', token), undefined);
      assert.equal(await links.redeem('reset_password', token), undefined);
    });

    test('a token is bound to its purpose', async () => {
      const id = await account();
      const token = await links.issue('verify_email', id, { ttlSeconds: 600 });
      assert.equal(await links.inspect('reset_password', token), undefined);
      assert.equal(await links.redeem('reset_password', token), undefined);
      assert.equal((await links.redeem('verify_email', token))?.accountId, id, 'and still works for its own purpose');
    });

    test('tampered, unknown and malformed tokens are misses, never errors', async () => {
      const id = await account();
      const token = await links.issue('verify_email', id, { ttlSeconds: 600 });
      const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
      for (const bad of [flipped, `${token}x`, token.slice(0, -1), '', 'a', 'x'.repeat(100_000), `${token.slice(0, 42)}\u0000`, '../../etc', "' OR 1=1 --", 42, null, undefined, { token }]) {
        assert.equal(await links.inspect('verify_email', bad as string), undefined);
        assert.equal(await links.redeem('verify_email', bad as string), undefined);
      }
      assert.equal((await links.redeem('verify_email', token))?.accountId, id, 'the real one still works');
    });

    test('only the newest token of a purpose works; other purposes and accounts are untouched', async () => {
      const id = await account();
      const other = await account();
      const first = await links.issue('verify_email', id, { ttlSeconds: 600 });
      const reset = await links.issue('reset_password', id, { ttlSeconds: 600 });
      const others = await links.issue('verify_email', other, { ttlSeconds: 600 });
      const second = await links.issue('verify_email', id, { ttlSeconds: 600 });
      assert.equal(await links.redeem('verify_email', first), undefined);
      assert.equal((await links.redeem('verify_email', second))?.accountId, id);
      assert.equal((await links.redeem('reset_password', reset))?.accountId, id);
      assert.equal((await links.redeem('verify_email', others))?.accountId, other);
    });

    test('revokeAll ends the unused tokens of an account, of one purpose or all', async () => {
      const id = await account();
      const used = await links.issue('change_email', id, { ttlSeconds: 600 });
      await links.redeem('change_email', used);
      const verify = await links.issue('verify_email', id, { ttlSeconds: 600 });
      const reset = await links.issue('reset_password', id, { ttlSeconds: 600 });
      assert.equal(await links.revokeAll(id, 'reset_password'), 1);
      assert.equal(await links.redeem('reset_password', reset), undefined);
      assert.ok(await links.inspect('verify_email', verify));
      const change = await links.issue('change_email', id, { ttlSeconds: 600 });
      assert.equal(await links.revokeAll(id), 2, 'the verify and change tokens; the used one is not counted');
      assert.equal(await links.redeem('verify_email', verify), undefined);
      assert.equal(await links.redeem('change_email', change), undefined);
      assert.equal(await links.revokeAll('not-a-uuid'), 0);
    });

    test('the table holds the digest, never the token', async () => {
      const id = await account();
      const token = await links.issue('reset_password', id, { ttlSeconds: 600, data: { note: 'x' } });
      const rows = await opened.db.query<Record<string, unknown>>('SELECT * FROM account_token WHERE account_id = $1', [id]);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.digest, createHash('sha256').update(token).digest('base64url'));
      assert.ok(!JSON.stringify(rows).includes(token));
      assert.equal(rows[0]!.purpose, 'reset_password');
    });

    test("deleting the account deletes its tokens", async () => {
      const id = await account();
      const token = await links.issue('verify_email', id, { ttlSeconds: 600 });
      await opened.db.execute('DELETE FROM account WHERE id = $1', [id]);
      assert.equal(await links.redeem('verify_email', token), undefined);
      assert.equal((await opened.db.query('SELECT 1 FROM account_token WHERE account_id = $1', [id])).length, 0);
    });

    test('the janitor removes tokens used or expired more than a day ago, and keeps the rest', async () => {
      const id = await account();
      const live = await links.issue('verify_email', id, { ttlSeconds: 600 });
      const usedLongAgo = await links.issue('reset_password', id, { ttlSeconds: 600 });
      await links.redeem('reset_password', usedLongAgo);
      const expiredLongAgo = await links.issue('change_email', id, { ttlSeconds: 600 });
      const digest = (t: string) => createHash('sha256').update(t).digest('base64url');
      await opened.db.execute("UPDATE account_token SET used_at = now() - interval '25 hours' WHERE digest = $1", [digest(usedLongAgo)]);
      await opened.db.execute("UPDATE account_token SET expires_at = now() - interval '25 hours' WHERE digest = $1", [digest(expiredLongAgo)]);
      const other = await account();
      const usedRecently = await links.issue('verify_email', other, { ttlSeconds: 600 });
      await links.redeem('verify_email', usedRecently);

      const janitor = startJanitor(createRepositories(opened.db), pino({ level: 'silent' }), { intervalMs: 3_600_000, batchSize: 100, maxBatches: 2, auditRetentionDays: 365 });
      try {
        await janitor.sweep();
      } finally {
        await janitor.stop();
      }
      const left = (await opened.db.query<{ digest: string }>('SELECT digest FROM account_token WHERE account_id IN ($1, $2)', [id, other])).map((r) => r.digest).sort();
      assert.deepEqual(left, [digest(live), digest(usedRecently)].sort());
    });
  });
}
