// The storage of passkeys (issue 16), the same contract on the embedded
// database and on a real PostgreSQL: credentials are unique across accounts,
// scoped to their account for every change, gone with it; the counter only
// moves forwards, and of racing uses with one counter exactly one is stored;
// a challenge is taken once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, type Database, type Repositories } from '../../server/repositories/index.ts';
import type { NewWebauthnCredential } from '../../server/repositories/webauthn-credential-repository.ts';
import { ConflictError } from '../../server/errors.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<{ db: Database; cleanup: () => Promise<void> }>, string | false]> = [
  ['embedded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-webauthn-'));
    return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }, false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return { db: await openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, 'webauthn_credentials') })), cleanup: async () => {} };
  }, requirePostgres()],
];

const credential = (accountId: string, extra: Partial<NewWebauthnCredential> = {}): NewWebauthnCredential => ({
  id: randomUUID().replace(/-/g, ''), accountId, publicKey: 'pQECAyYgASFYIA', counter: 0, transports: ['internal', 'hybrid'], name: 'Phone',
  deviceType: 'multiDevice', backedUp: true, aaguid: '00000000-0000-0000-0000-000000000000', ...extra,
});

for (const [name, open, skip] of backends) {
  describe(`passkey storage (${name})`, { skip }, () => {
    let opened: { db: Database; cleanup: () => Promise<void> };
    let repositories: Repositories;
    const account = async () => {
      const id = randomUUID();
      await opened.db.execute("INSERT INTO account (id, email, password_hash, updated_at) VALUES ($1, $2, 'not-a-hash', now())", [id, `${id}@example.test`]);
      return id;
    };
    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
      repositories = createRepositories(opened.db);
    });
    after(async () => {
      await opened.db.close();
      await opened.cleanup();
    });

    test('several per account, listed oldest first; a credential ID is one account\'s only; bad ids are misses', async () => {
      const { webauthnCredentials: store } = repositories;
      const [ada, bob] = [await account(), await account()];
      const first = await store.insert(credential(ada, { name: 'Phone', counter: 4294967295 }));
      await store.insert(credential(ada, { name: 'Key', transports: [], deviceType: 'singleDevice', backedUp: false }));
      assert.deepEqual((await store.listByAccount(ada)).map((c) => c.name), ['Phone', 'Key']);
      assert.equal(first.counter, 4294967295, 'a 32-bit counter fits');
      assert.deepEqual(first.transports, ['internal', 'hybrid']);
      assert.equal(first.lastUsedAt, null);
      await assert.rejects(store.insert(credential(bob, { id: first.id })), ConflictError);
      assert.equal((await store.find(first.id))?.accountId, ada);
      assert.deepEqual(await store.listByAccount('not-a-uuid'), []);
      assert.equal(await store.find('x\u0000y'), undefined);
    });

    test('rename and remove only the account\'s own; removeAll; gone with the account', async () => {
      const { webauthnCredentials: store } = repositories;
      const [ada, bob] = [await account(), await account()];
      const c = await store.insert(credential(ada));
      assert.equal(await store.rename(bob, c.id, 'Mine now'), undefined);
      assert.equal((await store.rename(ada, c.id, 'Work phone'))?.name, 'Work phone');
      assert.equal(await store.remove(bob, c.id), false);
      assert.equal(await store.remove(ada, c.id), true);
      assert.equal(await store.find(c.id), undefined);
      await store.insert(credential(ada));
      await store.insert(credential(ada));
      assert.equal(await store.removeAll(ada), 2);
      const kept = await store.insert(credential(bob));
      await store.saveChallenge({ challenge: `c-${randomUUID()}`, purpose: 'registration', accountId: bob, expiresAt: new Date(Date.now() + 60_000) });
      await opened.db.execute('DELETE FROM account WHERE id = $1', [bob]);
      assert.equal(await store.find(kept.id), undefined);
      assert.equal((await opened.db.query('SELECT 1 FROM webauthn_challenge WHERE account_id = $1', [bob])).length, 0);
    });

    test('the counter only moves forwards (0 → 0 allowed for authenticators without one); of racing uses exactly one is stored', async () => {
      const { webauthnCredentials: store } = repositories;
      const ada = await account();
      const zero = await store.insert(credential(ada));
      assert.ok((await store.recordUse(zero.id, ada, { counter: 0, backedUp: true }))?.lastUsedAt instanceof Date);
      const c = await store.insert(credential(ada, { counter: 5 }));
      assert.equal(await store.recordUse(c.id, ada, { counter: 5, backedUp: true }), undefined, 'equal is no growth');
      assert.equal(await store.recordUse(c.id, ada, { counter: 4, backedUp: true }), undefined);
      assert.equal(await store.recordUse(c.id, randomUUID(), { counter: 9, backedUp: true }), undefined, 'not this account\'s');
      const used = await store.recordUse(c.id, ada, { counter: 6, backedUp: false });
      assert.deepEqual([used?.counter, used?.backedUp], [6, false]);
      const results = await Promise.all(Array.from({ length: 20 }, () => store.recordUse(c.id, ada, { counter: 7, backedUp: false })));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal((await store.find(c.id))?.counter, 7);
    });

    test('a challenge is taken once, of concurrent takes by exactly one; the janitor purges expired ones', async () => {
      const { webauthnCredentials: store } = repositories;
      const challenge = `c-${randomUUID()}`;
      await store.saveChallenge({ challenge, purpose: 'passwordless', accountId: null, expiresAt: new Date(Date.now() + 60_000) });
      const takes = await Promise.all(Array.from({ length: 20 }, () => store.takeChallenge(challenge)));
      const taken = takes.filter(Boolean);
      assert.equal(taken.length, 1);
      assert.deepEqual({ ...taken[0]!, expiresAt: undefined }, { challenge, purpose: 'passwordless', accountId: null, expiresAt: undefined });
      assert.equal(await store.takeChallenge(challenge), undefined);
      const expired = `c-${randomUUID()}`;
      await store.saveChallenge({ challenge: expired, purpose: 'passwordless', accountId: null, expiresAt: new Date(Date.now() - 1000) });
      assert.ok(await store.purgeExpiredChallenges(1000) >= 1);
      assert.equal(await store.takeChallenge(expired), undefined);
    });
  });
}
