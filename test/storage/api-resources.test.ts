// The storage of registered APIs (issue 17), the same contract on the
// embedded database and on a real PostgreSQL: insert, find (by id and by
// identifier), list, update (jsonb and text[] round trips, null clears),
// remove; a taken identifier is a ConflictError; the identifier cache is
// dropped by a change, also one made by another instance.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, localInvalidation, openDatabase, type Database, type Repositories } from '../../server/repositories/index.ts';
import { createApiResourceRepository, type NewApiResource } from '../../server/repositories/api-resource-repository.ts';
import { ConflictError } from '../../server/errors.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<{ db: Database; cleanup: () => Promise<void> }>, string | false]> = [
  ['embedded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-apis-'));
    return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }, false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return { db: await openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, 'api_resources') })), cleanup: async () => {} };
  }, requirePostgres()],
];

const api = (identifier: string, extra: Partial<NewApiResource> = {}): NewApiResource => ({
  id: randomUUID(), identifier, name: 'Notes', scopes: ['notes:read', 'notes:write'], accessTokenTtl: 600, signingAlg: 'EdDSA',
  requireDpop: false, jwks: null, jwksUri: null, encrypt: false, ...extra,
});

for (const [name, open, skip] of backends) {
  describe(`registered APIs (${name})`, { skip }, () => {
    let opened: { db: Database; cleanup: () => Promise<void> };
    let repositories: Repositories;
    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
      repositories = createRepositories(opened.db);
    });
    after(async () => {
      await opened.db.close();
      await opened.cleanup();
    });

    test('insert, find, find by identifier, list, update, remove; a taken identifier is a ConflictError', async () => {
      const { apiResources } = repositories;
      const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ', use: 'enc', kid: 'k1' }] };
      const created = await apiResources.insert(api('https://b.example.test', { jwks, encrypt: true }));
      await apiResources.insert(api('https://a.example.test', { accessTokenTtl: null }));
      assert.deepEqual(created.jwks, jwks);
      assert.deepEqual(created.scopes, ['notes:read', 'notes:write']);
      assert.ok(created.createdAt instanceof Date);
      assert.deepEqual(await apiResources.find(created.id), created);
      assert.deepEqual(await apiResources.findByIdentifier('https://b.example.test'), created);
      assert.equal(await apiResources.findByIdentifier('https://nobody.example.test'), undefined);
      assert.deepEqual((await apiResources.list()).map((a) => a.identifier), ['https://a.example.test', 'https://b.example.test']);
      await assert.rejects(apiResources.insert(api('https://a.example.test')), ConflictError);

      const changed = await apiResources.update(created.id, { scopes: ['notes:admin'], jwks: null, jwksUri: 'https://b.example.test/jwks', signingAlg: 'RS256', accessTokenTtl: null });
      assert.deepEqual([changed?.scopes, changed?.jwks, changed?.jwksUri, changed?.signingAlg, changed?.accessTokenTtl, changed?.name], [['notes:admin'], null, 'https://b.example.test/jwks', 'RS256', null, 'Notes']);
      assert.equal((await apiResources.findByIdentifier('https://b.example.test'))?.signingAlg, 'RS256', 'a change drops the cache');
      await assert.rejects(apiResources.update(created.id, { identifier: 'https://a.example.test' }), ConflictError);
      assert.equal(await apiResources.update(randomUUID(), { name: 'x' }), undefined);
      assert.equal(await apiResources.find('not-a-uuid'), undefined, 'not a uuid: a miss, not a database error');
      assert.equal(await apiResources.findByIdentifier('nul\u0000'), undefined);

      assert.equal((await apiResources.remove(created.id))?.identifier, 'https://b.example.test');
      assert.equal(await apiResources.remove(created.id), undefined);
      assert.equal(await apiResources.findByIdentifier('https://b.example.test'), undefined);
    });

    test("another instance's change reaches this one's cache through the invalidation channel", async () => {
      const channel = localInvalidation();
      const here = createApiResourceRepository(opened.db, channel);
      const there = createApiResourceRepository(opened.db, channel);
      const record = await there.insert(api('https://c.example.test'));
      assert.equal((await here.findByIdentifier('https://c.example.test'))?.signingAlg, 'EdDSA');
      await there.update(record.id, { signingAlg: 'ES256' });
      assert.equal((await here.findByIdentifier('https://c.example.test'))?.signingAlg, 'ES256');
      // Without a message, the cache is what it was (for up to 30 s).
      const deaf = createApiResourceRepository(opened.db, localInvalidation());
      assert.equal((await deaf.findByIdentifier('https://c.example.test'))?.signingAlg, 'ES256');
      await there.update(record.id, { signingAlg: 'RS256' });
      assert.equal((await deaf.findByIdentifier('https://c.example.test'))?.signingAlg, 'ES256');
      assert.equal((await here.findByIdentifier('https://c.example.test'))?.signingAlg, 'RS256');
    });
  });
}
