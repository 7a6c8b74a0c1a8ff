// The storage contract: what oidc-provider's adapter and our repositories
// promise, run unchanged against every backend (embedded PGlite, PostgreSQL,
// and PostgreSQL with Redis for the short-lived models and login counters). A backend passes only if all of it holds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Adapter, AdapterFactory } from 'oidc-provider';
import type { Repositories } from '../../server/repositories/index.ts';
import { ConflictError } from '../../server/errors.ts';

export interface Backend {
  repositories: Repositories;
  adapter: AdapterFactory;
  /** The short-lived models (sessions, codes, ...) live in Redis. */
  shortLivedInRedis: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storageContract(getBackend: () => Backend): void {
  const model = (name: string): Adapter => getBackend().adapter(name);
  const id = () => randomUUID();

  test('upsert then find returns the payload; find of an unknown id is undefined', async () => {
    const a = model('Session');
    const key = id();
    await a.upsert(key, { uid: 'u-1', accountId: 'acc-1', kind: 'Session' } as never, 60);
    assert.deepEqual(await a.find(key), { uid: 'u-1', accountId: 'acc-1', kind: 'Session' });
    assert.equal(await a.find(id()), undefined);
  });

  test('upsert replaces the payload of an existing id', async () => {
    const a = model('Grant');
    const key = id();
    await a.upsert(key, { accountId: 'x', openid: { scope: 'openid' } } as never, 60);
    await a.upsert(key, { accountId: 'x', openid: { scope: 'openid email' } } as never, 60);
    assert.deepEqual(await a.find(key), { accountId: 'x', openid: { scope: 'openid email' } });
  });

  test('models are separate namespaces', async () => {
    const key = id();
    await model('AuthorizationCode').upsert(key, { kind: 'AuthorizationCode' } as never, 60);
    assert.equal(await model('RefreshToken').find(key), undefined);
  });

  test('find ignores expired instances', async () => {
    const a = model('AuthorizationCode');
    const key = id();
    await a.upsert(key, { kind: 'AuthorizationCode' } as never, 1);
    assert.ok(await a.find(key));
    await sleep(1100);
    assert.equal(await a.find(key), undefined);
  });

  test('findByUid and findByUserCode', async () => {
    const session = model('Session');
    const uid = id();
    await session.upsert(id(), { uid, kind: 'Session' } as never, 60);
    assert.equal((await session.findByUid(uid))?.uid, uid);
    assert.equal(await session.findByUid(id()), undefined);

    const device = model('DeviceCode');
    await device.upsert(id(), { userCode: 'ABCD-EFGH', kind: 'DeviceCode' } as never, 60);
    assert.equal((await device.findByUserCode('ABCD-EFGH'))?.userCode, 'ABCD-EFGH');
    assert.equal(await device.findByUserCode('ZZZZ-ZZZZ'), undefined);
  });

  test('consume marks the instance consumed with a timestamp', async () => {
    const a = model('RefreshToken');
    const key = id();
    await a.upsert(key, { grantId: 'g', kind: 'RefreshToken' } as never, 60);
    const before = Math.floor(Date.now() / 1000);
    await a.consume(key);
    const found = await a.find(key);
    assert.ok(typeof found?.consumed === 'number' && found.consumed >= before - 1);
  });

  test('replay detection: of 50 concurrent first uses of one jti exactly one is first; it expires with its window', async () => {
    const a = model('ReplayDetection') as Adapter & { insertIfAbsent(id: string, payload: object, expiresIn: number): Promise<boolean> };
    assert.equal(typeof a.insertIfAbsent, 'function');
    const key = id();
    // A window long enough that a loaded machine cannot outlive it during the race.
    const results = await Promise.all(Array.from({ length: 50 }, () => a.insertIfAbsent(key, { jti: key, iss: 'client', kind: 'ReplayDetection' }, 60)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal((await a.find(key))?.iss, 'client');
    assert.equal(await a.insertIfAbsent(key, { jti: key, iss: 'client', kind: 'ReplayDetection' }, 60), false);

    // Gone with its window (expired, purged or not): a first use again, once.
    const brief = id();
    assert.equal(await a.insertIfAbsent(brief, { jti: brief, iss: 'client', kind: 'ReplayDetection' }, 1), true);
    await sleep(1100);
    assert.equal(await a.insertIfAbsent(brief, { jti: brief, iss: 'client', kind: 'ReplayDetection' }, 60), true);
    assert.equal(await a.insertIfAbsent(brief, { jti: brief, iss: 'client', kind: 'ReplayDetection' }, 60), false);
  });

  for (const name of ['RefreshToken', 'AuthorizationCode']) {
    test(`of 50 concurrent consumes of one ${name} exactly one succeeds`, async () => {
      const a = model(name);
      const key = id();
      await a.upsert(key, { grantId: 'g', kind: name } as never, 60);
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => a.consume(key)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as { error?: string }).error, 'invalid_grant');
      }
    });
  }

  describe('refresh token rotation', () => {
    const live = async (grantId: string, ids: string[]) => {
      const found = await Promise.all(ids.map((key) => model('RefreshToken').find(key)));
      return ids.filter((_, i) => found[i] && !found[i]!.consumed && found[i]!.grantId === grantId);
    };
    const family = async (graceSeconds = 0) => {
      const { clients } = getBackend().repositories;
      const clientId = `rt-${id()}`;
      await clients.create({ id: clientId, metadata: graceSeconds ? { refresh_token_reuse_grace_seconds: graceSeconds } : {}, secretDigest: null });
      const grantId = id();
      const first = id();
      await model('Grant').upsert(grantId, { accountId: 'x', clientId, kind: 'Grant' } as never, 60);
      await model('RefreshToken').upsert(first, { grantId, clientId, kind: 'RefreshToken' } as never, 60);
      return { grantId, clientId, first };
    };

    test('a rotation spends the token and stores its successor; a spent token stores nothing', async () => {
      const { oidcModels } = getBackend().repositories;
      const { grantId, clientId, first } = await family();
      const second = id();
      assert.equal(await oidcModels.rotateRefreshToken(first, second, { grantId, clientId, kind: 'RefreshToken' }, 60), true);
      assert.ok((await model('RefreshToken').find(first))?.consumed, 'the presented token is spent');
      assert.deepEqual(await live(grantId, [first, second]), [second]);
      const third = id();
      assert.equal(await oidcModels.rotateRefreshToken(first, third, { grantId, clientId, kind: 'RefreshToken' }, 60), false);
      assert.equal(await model('RefreshToken').find(third), undefined, 'nothing written for a spent token');
      assert.equal(await oidcModels.rotateRefreshToken(id(), third, { grantId, clientId, kind: 'RefreshToken' }, 60), false, 'nor for an unknown one');
      assert.equal(await model('RefreshToken').find(third), undefined);
    });

    test('of 50 concurrent rotations of one token exactly one stores a successor', async () => {
      const { oidcModels } = getBackend().repositories;
      const { grantId, clientId, first } = await family();
      const successors = Array.from({ length: 50 }, () => id());
      const results = await Promise.all(successors.map((next) => oidcModels.rotateRefreshToken(first, next, { grantId, clientId, kind: 'RefreshToken' }, 60)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.deepEqual(await live(grantId, successors), [successors[results.indexOf(true)]]);
    });

    test('within the client\'s reuse grace the token just spent reads as unspent and rotates again, replacing its successor; concurrent retries leave one live token', async () => {
      const { oidcModels } = getBackend().repositories;
      const { grantId, clientId, first } = await family(5);
      const second = id();
      await oidcModels.rotateRefreshToken(first, second, { grantId, clientId, kind: 'RefreshToken' }, 60);
      assert.equal((await oidcModels.findGrantSource('RefreshToken', first))?.token.consumed, undefined, 'within the grace window');
      const retries = Array.from({ length: 20 }, () => id());
      const results = await Promise.all(retries.map((next) => oidcModels.rotateRefreshToken(first, next, { grantId, clientId, kind: 'RefreshToken' }, 60)));
      assert.ok(results.some(Boolean));
      assert.equal((await live(grantId, [second, ...retries])).length, 1, 'one live line');
      // The first token is now older than the newest spent one: no grace.
      const [current] = await live(grantId, [second, ...retries]);
      await oidcModels.rotateRefreshToken(current!, id(), { grantId, clientId, kind: 'RefreshToken' }, 60);
      assert.ok((await oidcModels.findGrantSource('RefreshToken', first))?.token.consumed, 'an older token is spent for good');
      assert.equal(await oidcModels.rotateRefreshToken(first, id(), { grantId, clientId, kind: 'RefreshToken' }, 60), false);
    });

    test('without a grace, a spent token reads as spent at once', async () => {
      const { oidcModels } = getBackend().repositories;
      const { grantId, clientId, first } = await family();
      await oidcModels.rotateRefreshToken(first, id(), { grantId, clientId, kind: 'RefreshToken' }, 60);
      assert.ok((await oidcModels.findGrantSource('RefreshToken', first))?.token.consumed);
    });

    test('the read brings the live grant and the account along', async () => {
      const { oidcModels, accounts } = getBackend().repositories;
      const { grantId, clientId, first } = await family();
      const account = await accounts.create({ id: randomUUID(), email: `${id()}@example.test`, name: null, passwordHash: 'x', roles: ['admin'], organisation: null });
      const token = id();
      await model('RefreshToken').upsert(token, { grantId, clientId, accountId: account.id, kind: 'RefreshToken' } as never, 60);
      const read = await oidcModels.findGrantSource('RefreshToken', token);
      assert.equal(read?.grant?.clientId, clientId);
      assert.equal(read?.account?.email, account.email);
      assert.deepEqual(read?.account?.roles, ['admin']);
      // An account id that is not a uuid (36 characters of it or not) is a miss, never a failed cast.
      const odd = id();
      await model('RefreshToken').upsert(odd, { grantId, clientId, accountId: '-'.repeat(36), kind: 'RefreshToken' } as never, 60);
      assert.equal((await oidcModels.findGrantSource('RefreshToken', odd))?.account, undefined);
      const orphan = await oidcModels.findGrantSource('RefreshToken', first);
      assert.equal(orphan?.account, undefined, 'no account row for this token');
      await model('Grant').destroy(grantId);
      assert.equal((await oidcModels.findGrantSource('RefreshToken', token))?.grant, undefined, 'the grant is gone');
    });
  });

  test('a code is read with its grant, account and session where they live beside it; a spent code reads as spent', async () => {
    const { oidcModels, accounts } = getBackend().repositories;
    const account = await accounts.create({ id: randomUUID(), email: `${id()}@example.test`, name: null, passwordHash: 'x', roles: [], organisation: null });
    const [grantId, code, sessionUid] = [id(), id(), id()];
    await model('Grant').upsert(grantId, { accountId: account.id, clientId: 'c', kind: 'Grant' } as never, 60);
    await model('Session').upsert(id(), { uid: sessionUid, accountId: account.id, kind: 'Session' } as never, 60);
    await model('AuthorizationCode').upsert(code, { grantId, accountId: account.id, sessionUid, clientId: 'c', kind: 'AuthorizationCode' } as never, 60);
    const read = await oidcModels.findGrantSource('AuthorizationCode', code);
    assert.equal(read?.token.grantId, grantId);
    if (getBackend().shortLivedInRedis) {
      // The code is in Redis, its grant and account in the database: nothing comes along.
      assert.deepEqual([read?.related, read?.sessionRead, read?.grant, read?.account, read?.session], [false, false, undefined, undefined, undefined]);
    } else {
      assert.equal(read?.related, true);
      assert.equal(read?.grant?.clientId, 'c');
      assert.equal(read?.account?.id, account.id);
      assert.equal(read?.sessionRead, true);
      assert.equal(read?.session?.uid, sessionUid);
    }
    await model('AuthorizationCode').consume(code);
    assert.ok((await oidcModels.findGrantSource('AuthorizationCode', code))?.token.consumed, 'no reuse grace for codes');
  });

  test('saving a consumed token again does not revive it', async () => {
    const a = model('AuthorizationCode');
    const key = id();
    await a.upsert(key, { kind: 'AuthorizationCode' } as never, 60);
    await a.consume(key);
    await a.upsert(key, { kind: 'AuthorizationCode' } as never, 60);
    assert.ok((await a.find(key))?.consumed);
  });

  test('destroy removes one instance', async () => {
    const a = model('Interaction');
    const [k1, k2] = [id(), id()];
    await a.upsert(k1, { kind: 'Interaction' } as never, 60);
    await a.upsert(k2, { kind: 'Interaction' } as never, 60);
    await a.destroy(k1);
    assert.equal(await a.find(k1), undefined);
    assert.ok(await a.find(k2));
  });

  test('revokeByGrantId removes that grant\'s instances of the model only', async () => {
    const grantId = id();
    const rt = model('RefreshToken');
    const code = model('AuthorizationCode');
    const [r1, r2, other, c1] = [id(), id(), id(), id()];
    await rt.upsert(r1, { grantId, kind: 'RefreshToken' } as never, 60);
    await rt.upsert(r2, { grantId, kind: 'RefreshToken' } as never, 60);
    await rt.upsert(other, { grantId: id(), kind: 'RefreshToken' } as never, 60);
    await code.upsert(c1, { grantId, kind: 'AuthorizationCode' } as never, 60);
    await rt.revokeByGrantId(grantId);
    assert.equal(await rt.find(r1), undefined);
    assert.equal(await rt.find(r2), undefined);
    assert.ok(await rt.find(other));
    assert.ok(await code.find(c1), 'other models are revoked by their own adapter call');
    await code.revokeByGrantId(grantId);
    assert.equal(await code.find(c1), undefined);
  });

  test('a user\'s instances are deleted by account id, per model', async () => {
    const { oidcModels } = getBackend().repositories;
    const accountId = id();
    const [s1, g1, keep] = [id(), id(), id()];
    await model('Session').upsert(s1, { accountId, kind: 'Session' } as never, 60);
    await model('Grant').upsert(g1, { accountId, kind: 'Grant' } as never, 60);
    await model('Session').upsert(keep, { accountId: id(), kind: 'Session' } as never, 60);
    const counts = await oidcModels.deleteByAccount(['Session', 'Grant', 'AuthorizationCode'], accountId);
    assert.deepEqual(counts, { Session: 1, Grant: 1, AuthorizationCode: 0 });
    assert.equal(await model('Session').find(s1), undefined);
    assert.equal(await model('Grant').find(g1), undefined);
    assert.ok(await model('Session').find(keep));
  });

  test('login throttle: concurrent failures are all counted; forgive and reset', async () => {
    const { loginThrottle } = getBackend().repositories;
    const key = `acct:${id()}`;
    assert.equal(await loginThrottle.get(key, 900), undefined);
    await Promise.all(Array.from({ length: 20 }, () => loginThrottle.recordFailure(key, 900)));
    const state = await loginThrottle.get(key, 900);
    assert.equal(state?.failures, 20);
    assert.ok(state.resetsAt.getTime() > Date.now() + 800_000);
    await loginThrottle.forgive(key);
    assert.equal((await loginThrottle.get(key, 900))?.failures, 19);
    await loginThrottle.reset(key);
    assert.equal(await loginThrottle.get(key, 900), undefined);
  });

  test('login throttle: several keys counted in one call, in order; a success resets one key and forgives the other', async () => {
    const { loginThrottle } = getBackend().repositories;
    const [account, address] = [`acct:${id()}`, `ip:${id()}`];
    await loginThrottle.recordFailure(address, 900);
    const states = await loginThrottle.recordFailures([account, address], 900);
    assert.deepEqual(states.map((state) => state.failures), [1, 2]);
    await Promise.all(Array.from({ length: 5 }, () => loginThrottle.recordFailures([account, address], 900)));
    assert.equal((await loginThrottle.get(account, 900))?.failures, 6);
    await loginThrottle.resetAndForgive(account, address);
    assert.equal(await loginThrottle.get(account, 900), undefined);
    assert.equal((await loginThrottle.get(address, 900))?.failures, 6);
  });

  test('a user\'s sessions, grants and refresh tokens are listable by account id', async () => {
    const { oidcModels } = getBackend().repositories;
    const accountId = id();
    await model('Session').upsert(id(), { accountId, kind: 'Session' } as never, 60);
    await model('Session').upsert(id(), { accountId, kind: 'Session' } as never, 60);
    await model('Grant').upsert(id(), { accountId, kind: 'Grant' } as never, 60);
    await model('RefreshToken').upsert(id(), { accountId, grantId: 'g', kind: 'RefreshToken' } as never, 60);
    await model('Session').upsert(id(), { accountId: id(), kind: 'Session' } as never, 60);
    assert.equal((await oidcModels.listByAccount('Session', accountId)).length, 2);
    assert.equal((await oidcModels.listByAccount('Grant', accountId)).length, 1);
    assert.equal((await oidcModels.listByAccount('RefreshToken', accountId)).length, 1);
  });

  test('clients: create, find, list; a duplicate id is a ConflictError and changes nothing', async () => {
    const { clients } = getBackend().repositories;
    const clientId = `c-${id()}`;
    await clients.create({ id: clientId, metadata: { redirect_uris: ['https://a.example/cb'] }, secretDigest: 'ab'.repeat(32) });
    const count = (await clients.list()).length;
    await assert.rejects(clients.create({ id: clientId, metadata: {}, secretDigest: null }), ConflictError);
    assert.equal((await clients.list()).length, count);
    assert.deepEqual((await clients.find(clientId))?.metadata, { redirect_uris: ['https://a.example/cb'] });
    assert.equal(await clients.find(`missing-${id()}`), undefined);
  });

  test('the client adapter presents the digest in place of the secret, and nothing for public clients', async () => {
    const { clients } = getBackend().repositories;
    const confidential = `c-${id()}`;
    const pub = `p-${id()}`;
    await clients.create({ id: confidential, metadata: { grant_types: ['client_credentials'] }, secretDigest: 'cd'.repeat(32) });
    await clients.create({ id: pub, metadata: { token_endpoint_auth_method: 'none' }, secretDigest: null });
    const a = model('Client');
    assert.deepEqual(await a.find(confidential), { grant_types: ['client_credentials'], client_id: confidential, client_secret: 'cd'.repeat(32) });
    assert.equal((await a.find(pub))?.client_secret, undefined);
    assert.equal(await a.find(`missing-${id()}`), undefined);
  });

  test('accounts: a duplicate e-mail is a ConflictError and changes nothing', async () => {
    const { accounts } = getBackend().repositories;
    const email = `${id()}@example.test`;
    await accounts.create({ id: randomUUID(), email, name: null, passwordHash: 'x', roles: ['admin'], organisation: 'acme' });
    const count = (await accounts.list()).length;
    await assert.rejects(accounts.create({ id: randomUUID(), email, name: null, passwordHash: 'y', roles: [], organisation: null }), ConflictError);
    assert.equal((await accounts.list()).length, count);
    const stored = await accounts.findByEmail(email);
    assert.deepEqual(stored?.roles, ['admin']);
    assert.equal(stored?.organisation, 'acme');
    assert.equal((await accounts.findById(stored!.id))?.organisation, 'acme');
  });

  test('accounts: update changes only the given fields; list filters, orders and pages', async () => {
    const { accounts } = getBackend().repositories;
    const org = `org-${id()}`;
    const created = await accounts.create({ id: randomUUID(), email: `${id()}@example.test`, name: 'First', passwordHash: 'h1', roles: [], organisation: org });
    assert.equal(created.emailVerified, false);
    assert.ok(created.createdAt instanceof Date && created.updatedAt instanceof Date);
    const second = await accounts.create({ id: randomUUID(), email: `${id()}@example.test`, name: null, passwordHash: 'h2', roles: ['admin'], organisation: org });
    const changed = await accounts.update(created.id, { roles: ['admin'], disabled: true });
    assert.deepEqual(changed?.roles, ['admin']);
    assert.equal(changed?.disabled, true);
    assert.equal(changed?.name, 'First', 'fields not given stay');
    assert.equal(changed?.passwordHash, 'h1');
    assert.equal((await accounts.update(created.id, { name: null, organisation: null, passwordHash: 'h3' }))?.name, null);
    assert.equal((await accounts.findById(created.id))?.passwordHash, 'h3');
    assert.equal(await accounts.update(randomUUID(), { name: 'x' }), undefined);
    assert.equal(await accounts.update('not-a-uuid', { name: 'x' }), undefined);
    assert.deepEqual((await accounts.list({ organisation: org })).map((a) => a.id), [second.id]);
    assert.deepEqual((await accounts.list({ email: second.email })).map((a) => a.id), [second.id]);
    const all = await accounts.list();
    assert.deepEqual((await accounts.list({ limit: 2, offset: 1 })).map((a) => a.id), all.slice(1, 3).map((a) => a.id));
  });

  test('clients: update replaces metadata and the digest separately; delete says whether there was one', async () => {
    const { clients } = getBackend().repositories;
    const clientId = `c-${id()}`;
    await clients.create({ id: clientId, metadata: { client_name: 'One' }, secretDigest: 'ab'.repeat(32) });
    const renamed = await clients.update(clientId, { metadata: { client_name: 'Two' } });
    assert.deepEqual(renamed?.metadata, { client_name: 'Two' });
    assert.equal(renamed?.secretDigest, 'ab'.repeat(32), 'the digest stays');
    const rotated = await clients.update(clientId, { secretDigest: 'cd'.repeat(32) });
    assert.deepEqual(rotated?.metadata, { client_name: 'Two' }, 'the metadata stays');
    assert.equal(rotated?.secretDigest, 'cd'.repeat(32));
    assert.equal((await clients.update(clientId, { secretDigest: null }))?.secretDigest, null);
    assert.equal((await clients.find(clientId))?.secretDigest, null, 'a change reaches the cache at once');
    assert.equal(await clients.update(`missing-${id()}`, { metadata: {} }), undefined);
    assert.equal(await clients.delete(clientId), true);
    assert.equal(await clients.find(clientId), undefined);
    assert.equal(await clients.delete(clientId), false);
  });

  test('values PostgreSQL cannot store (NUL) are misses on lookup and a clear error on write, never a database error', async () => {
    const nul = 'abc\u0000def';
    for (const name of ['Session', 'RefreshToken', 'Client']) {
      assert.equal(await model(name).find(nul), undefined, name);
    }
    assert.equal(await model('Session').findByUid(nul), undefined);
    assert.equal(await model('DeviceCode').findByUserCode(nul), undefined);
    await model('Session').destroy(nul);
    await model('RefreshToken').revokeByGrantId(nul);
    await assert.rejects(model('RefreshToken').consume(nul), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(model('Interaction').upsert(id(), { params: { state: nul } } as never, 60), (err: { error?: string }) => err.error === 'invalid_request');
    const { accounts } = getBackend().repositories;
    assert.equal(await accounts.findByEmail(`a${'\u0000'}@example.test`), undefined);
    assert.equal(await accounts.findById('not-a-uuid'), undefined);
    assert.equal(await accounts.findById(nul), undefined);
  });
}
