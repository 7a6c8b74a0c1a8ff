// The storage of upstream identity providers and linked identities (issue
// 15), the same contract on the embedded database and on a real PostgreSQL:
// what the repositories promise, and the rules the schema itself keeps
// (unique identities, a provider with links not deleted by accident, links
// gone with their account, the id's form).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, ProviderInUseError, type Database, type Repositories } from '../../server/repositories/index.ts';
import type { NewUpstreamProvider } from '../../server/repositories/upstream-provider-repository.ts';
import { ConflictError } from '../../server/errors.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<{ db: Database; cleanup: () => Promise<void> }>, string | false]> = [
  ['embedded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-upstream-'));
    return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }, false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return { db: await openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, 'upstream_providers') })), cleanup: async () => {} };
  }, requirePostgres()],
];

const provider = (id: string, extra: Partial<NewUpstreamProvider> = {}): NewUpstreamProvider => ({
  id, type: 'oidc', name: `Provider ${id}`, issuer: 'https://idp.example.test', clientId: 'tollgate', clientSecretEncrypted: 'ciphertext-not-a-secret',
  scope: 'openid email', authorizationEndpoint: null, tokenEndpoint: null, userinfoEndpoint: null, jwksUri: null, autoCreate: true, enabled: true, ...extra,
});

for (const [name, open, skip] of backends) {
  describe(`upstream providers and linked identities (${name})`, { skip }, () => {
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

    test('insert, find, list by id, update; a taken id is a ConflictError', async () => {
      const { upstreamProviders } = repositories;
      const created = await upstreamProviders.insert(provider('beta', { type: 'github', issuer: null, tokenEndpoint: 'http://127.0.0.1:9/token' }));
      await upstreamProviders.insert(provider('alpha'));
      assert.equal(created.issuer, null);
      assert.equal(created.tokenEndpoint, 'http://127.0.0.1:9/token');
      assert.ok(created.createdAt instanceof Date);
      assert.deepEqual(await upstreamProviders.find('beta'), created);
      assert.deepEqual((await upstreamProviders.list()).map((p) => p.id).filter((id) => ['alpha', 'beta'].includes(id)), ['alpha', 'beta']);
      await assert.rejects(upstreamProviders.insert(provider('alpha')), ConflictError);

      const changed = await upstreamProviders.update('alpha', { name: 'Renamed', enabled: false, autoCreate: false, clientSecretEncrypted: 'other' });
      assert.equal(changed?.name, 'Renamed');
      assert.equal(changed?.enabled, false);
      assert.equal(changed?.autoCreate, false);
      assert.equal(changed?.clientSecretEncrypted, 'other');
      assert.equal(changed?.scope, 'openid email', 'untouched fields stay');
      assert.ok(changed!.updatedAt >= changed!.createdAt);
      assert.equal(await upstreamProviders.update('nobody', { name: 'x' }), undefined);
      assert.equal(await upstreamProviders.find('nul\u0000'), undefined, 'a NUL is a miss, not a database error');
    });

    test('the schema refuses an id that could not be part of a redirect URI, and an unknown type', async () => {
      for (const id of ['Upper', '-dash-first', 'a/b', 'x'.repeat(41), '']) {
        await assert.rejects(repositories.upstreamProviders.insert(provider(id)), (err: { code?: string }) => err.code === '23514', id);
      }
      await assert.rejects(repositories.upstreamProviders.insert(provider('typed', { type: 'facebook' })), (err: { code?: string }) => err.code === '23514');
    });

    test('an identity is linked once: not to a second account, and an account has one identity per provider', async () => {
      await repositories.upstreamProviders.insert(provider('links'));
      const [first, second] = [await account(), await account()];
      const linked = await repositories.linkedIdentities.link({ providerId: 'links', upstreamSub: 'sub-1', accountId: first, email: 'a@example.test', emailVerified: true });
      assert.equal(linked.lastUsedAt, null);
      assert.equal(linked.emailVerified, true);
      await assert.rejects(
        repositories.linkedIdentities.link({ providerId: 'links', upstreamSub: 'sub-1', accountId: second, email: null, emailVerified: false }),
        (err: Error) => err instanceof ConflictError && /already linked to an account/.test(err.message),
      );
      await assert.rejects(
        repositories.linkedIdentities.link({ providerId: 'links', upstreamSub: 'sub-2', accountId: first, email: null, emailVerified: false }),
        (err: Error) => err instanceof ConflictError && /already has an identity/.test(err.message),
      );
      assert.deepEqual(await repositories.linkedIdentities.find('links', 'sub-1'), linked);
      assert.deepEqual(await repositories.linkedIdentities.listByAccount(first), [linked]);
      assert.deepEqual(await repositories.linkedIdentities.listByAccount('not-a-uuid'), []);

      const used = await repositories.linkedIdentities.recordUse('links', 'sub-1', { email: 'new@example.test', emailVerified: false });
      assert.ok(used?.lastUsedAt instanceof Date);
      assert.equal(used?.email, 'new@example.test');
      assert.equal(await repositories.linkedIdentities.recordUse('links', 'unknown', { email: null, emailVerified: false }), undefined);
      assert.equal(await repositories.linkedIdentities.countByProvider('links'), 1);
      assert.equal(await repositories.linkedIdentities.unlink(first, 'links'), true);
      assert.equal(await repositories.linkedIdentities.unlink(first, 'links'), false);
      assert.equal(await repositories.linkedIdentities.find('links', 'sub-1'), undefined);
    });

    test('a provider with linked identities is removed only when asked to unlink them, in the same statement', async () => {
      await repositories.upstreamProviders.insert(provider('busy'));
      const person = await account();
      await repositories.linkedIdentities.link({ providerId: 'busy', upstreamSub: 's', accountId: person, email: null, emailVerified: false });
      await assert.rejects(
        repositories.upstreamProviders.remove('busy', { unlinkIdentities: false }),
        (err: Error) => err instanceof ProviderInUseError && err.linkedIdentities === 1 && err.status === 409,
      );
      assert.ok(await repositories.upstreamProviders.find('busy'), 'still there');
      assert.ok(await repositories.linkedIdentities.find('busy', 's'), 'and so is the link');
      const removed = await repositories.upstreamProviders.remove('busy', { unlinkIdentities: true });
      assert.equal(removed?.removed.id, 'busy');
      assert.equal(removed?.unlinked, 1);
      assert.equal(await repositories.upstreamProviders.find('busy'), undefined);
      assert.deepEqual(await repositories.linkedIdentities.listByAccount(person), []);
      assert.equal(await repositories.upstreamProviders.remove('busy', { unlinkIdentities: true }), undefined);

      await repositories.upstreamProviders.insert(provider('idle'));
      assert.deepEqual((await repositories.upstreamProviders.remove('idle', { unlinkIdentities: false }))?.unlinked, 0);
    });

    test("an account's deletion takes its linked identities along", async () => {
      await repositories.upstreamProviders.insert(provider('gone-with'));
      const person = await account();
      await repositories.linkedIdentities.link({ providerId: 'gone-with', upstreamSub: 'x', accountId: person, email: null, emailVerified: false });
      assert.equal(await repositories.accounts.delete(person), true);
      assert.equal(await repositories.linkedIdentities.find('gone-with', 'x'), undefined);
    });
  });
}
