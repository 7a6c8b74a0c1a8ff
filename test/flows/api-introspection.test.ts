// Introspection (RFC 7662) and revocation (RFC 7009) of the access tokens of
// APIs registered as data (docs/apis.md), asked by openid-client as an
// Auth0 or Keycloak user would:
// - a signed token for a registered API, whatever algorithm the API chose
//   (ES256, RS256, EdDSA), is active to the client it was issued to and to a
//   resource server registered with `introspection_audiences` naming the
//   API, with its claims and its DPoP binding; to anyone else it is not;
// - its own client revokes it; after that it is inactive;
// - a token for an API since removed, or for an audience no API has (even
//   one signed with Tollgate's own key), or signed by another key, is
//   inactive; an encrypted token (--encrypt) stays inactive by design;
// - a key rotation reaches registered APIs' tokens too;
// - the default and admin APIs' tokens look up no registered API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls } from '../support/admin.ts';
import { signIn } from '../support/sign-in.ts';
import { countCalls } from '../support/counting.ts';
import { rotateSigningKeys } from '../../server/keys/key-store.ts';
import { newKey } from '../support/dpop.ts';

const ES = 'https://notes-es.example.test/api';
const RS = 'https://notes-rs.example.test/api';
const ED = 'https://notes-ed.example.test/api';
const SEALED = 'https://sealed.example.test/api';
const LEDGER = 'https://ledger.example.test/api';
const SCOPES = ['notes:read', 'notes:write'];
const SECRET = 'an-api-introspection-client-secret-0123456789';
const PASSWORD = 'correct horse battery';

type Introspection = Awaited<ReturnType<typeof oidc.tokenIntrospection>>;

describe('introspection and revocation of registered APIs\' access tokens', () => {
  let t: TestTollgate;
  let accountId: string;
  /** openid-client configurations, one per client (client_secret_basic). */
  const configs = new Map<string, oidc.Configuration>();
  const as = async (clientId: string) => {
    let config = configs.get(clientId);
    if (!config) {
      config = await oidc.discovery(new URL(t.issuer), clientId, SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
      configs.set(clientId, config);
    }
    return config;
  };
  const introspect = async (clientId: string, token: string): Promise<Introspection> => oidc.tokenIntrospection(await as(clientId), token);
  const active = async (clientId: string, token: string) => (await introspect(clientId, token)).active;
  const revoke = async (clientId: string, token: string) => oidc.tokenRevocation(await as(clientId), token);
  const tokenFor = async (resource: string, options: oidc.DPoPOptions = {}) =>
    (await oidc.clientCredentialsGrant(await as('worker'), { scope: 'notes:read', resource }, options)).access_token;

  before(async () => {
    t = await startTestTollgate();
    const { apis, clients, accounts } = t.tollgate;
    await apis.add({ identifier: ES, name: 'Notes ES', scopes: SCOPES, signingAlg: 'ES256' });
    await apis.add({ identifier: RS, name: 'Notes RS', scopes: SCOPES, signingAlg: 'RS256' });
    await apis.add({ identifier: ED, name: 'Notes Ed', scopes: SCOPES, signingAlg: 'EdDSA' });
    await apis.add({ identifier: LEDGER, name: 'Ledger', scopes: ['ledger:read'] });
    const sealingKey = await generateKeyPair('RSA-OAEP-256', { extractable: true });
    await apis.add({ identifier: SEALED, name: 'Sealed', scopes: SCOPES, encrypt: true, jwks: { keys: [{ ...await exportJWK(sealingKey.publicKey), kid: 'sealed-1', use: 'enc' }] } });
    await clients.register({ id: 'worker', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic notes:read' });
    await clients.register({ id: 'notes-app', secret: SECRET, redirectUris: ['https://app.example.test/callback'], scope: 'openid offline_access basic notes:read' });
    // The notes APIs' resource server, and the ledger's: each introspects its own APIs' tokens only.
    await clients.register({ id: 'notes-rs', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic', introspectionAudiences: [ES, RS, ED, SEALED] });
    await clients.register({ id: 'ledger-rs', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic', introspectionAudiences: [LEDGER] });
    await clients.register({ id: 'stranger', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic' });
    accountId = (await accounts.create({ email: 'user@example.test', password: PASSWORD })).id;
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  for (const [identifier, alg] of [[ES, 'ES256'], [RS, 'RS256'], [ED, 'EdDSA']] as const) {
    test(`${alg}: a client_credentials token for a registered API is active to its client and to the API's resource server, with its claims; to others not`, async () => {
      const token = await tokenFor(identifier);
      assert.equal(decodeProtectedHeader(token).alg, alg);
      const claims = decodeJwt(token);
      for (const asker of ['worker', 'notes-rs']) {
        const info = await introspect(asker, token);
        assert.deepEqual(
          { ...info },
          {
            active: true, token_type: 'Bearer', client_id: 'worker', sub: 'worker', scope: 'notes:read', iss: t.issuer, aud: identifier,
            exp: claims.exp, iat: claims.iat, jti: claims.jti,
          },
          asker,
        );
      }
      // A client with no say over the API, and the resource server of another API, learn nothing (RFC 7662 §2.2).
      assert.equal(await active('stranger', token), false);
      assert.equal(await active('ledger-rs', token), false);
    });
  }

  test('a person\'s token for a registered API (authorization code): active, with the person as sub', async () => {
    const { tokens } = await signIn(t, { clientId: 'notes-app', secret: SECRET, email: 'user@example.test', password: PASSWORD, scope: 'openid notes:read', resource: ED });
    for (const asker of ['notes-app', 'notes-rs']) {
      const info = await introspect(asker, tokens.access_token);
      assert.deepEqual([info.active, info.sub, info.client_id, info.aud, info.scope], [true, accountId, 'notes-app', ED, 'notes:read'], asker);
    }
    assert.equal(await active('worker', tokens.access_token), false);
  });

  test('a DPoP-bound token for a registered API: active, token_type DPoP and cnf.jkt of the client\'s key (RFC 9449 §6.2)', async () => {
    const key = await newKey();
    const token = await tokenFor(RS, { DPoP: oidc.getDPoPHandle(await as('worker'), key) });
    const jkt = await calculateJwkThumbprint(await exportJWK(key.publicKey));
    for (const asker of ['worker', 'notes-rs']) {
      const info = await introspect(asker, token);
      assert.deepEqual([info.active, info.token_type, info.cnf, info.aud], [true, 'DPoP', { jkt }, RS], asker);
    }
  });

  test('revocation (RFC 7009): only its own client revokes it; then it is inactive to everyone', async () => {
    const token = await tokenFor(ED);
    // The resource server's and a stranger's requests are answered 200 and change nothing.
    await revoke('notes-rs', token);
    await revoke('stranger', token);
    assert.equal(await active('worker', token), true);
    await revoke('worker', token);
    assert.equal(await active('worker', token), false);
    assert.equal(await active('notes-rs', token), false);
    // Another token of the same API is not touched.
    assert.equal(await active('worker', await tokenFor(ED)), true);
  });

  test('a token for an API since removed is inactive', async () => {
    const identifier = 'https://short-lived.example.test/api';
    const { id } = await t.tollgate.apis.add({ identifier, name: 'Short-lived', scopes: SCOPES, signingAlg: 'EdDSA' });
    await t.tollgate.clients.update('notes-rs', { introspection_audiences: [ES, RS, ED, SEALED, identifier] });
    const token = await tokenFor(identifier);
    assert.equal(await active('worker', token), true);
    assert.equal(await active('notes-rs', token), true);
    await t.tollgate.apis.remove(id);
    assert.deepEqual({ ...await introspect('worker', token) }, { active: false });
    assert.equal(await active('notes-rs', token), false);
  });

  test('an API that changes its signing algorithm: tokens signed with the former one stay active until they expire', async () => {
    const identifier = 'https://changing.example.test/api';
    const { id } = await t.tollgate.apis.add({ identifier, name: 'Changing', scopes: SCOPES, signingAlg: 'EdDSA' });
    const before = await tokenFor(identifier);
    await t.tollgate.apis.update(id, { signingAlg: 'RS256' });
    const after = await tokenFor(identifier);
    assert.deepEqual([decodeProtectedHeader(before).alg, decodeProtectedHeader(after).alg], ['EdDSA', 'RS256']);
    assert.equal(await active('worker', before), true);
    assert.equal(await active('worker', after), true);
  });

  test('a token for an audience no API has is inactive, even signed with Tollgate\'s own key; a token for a registered API signed by another key is inactive', async () => {
    const ours = await tollgateSigningKey(t, 'ES256');
    const unknown = await accessToken(ours.key, ours.kid, { iss: t.issuer, aud: 'https://unknown.example.test/api' });
    assert.deepEqual({ ...await introspect('worker', unknown) }, { active: false });
    const pair = await generateKeyPair('ES256');
    const forged = await accessToken(pair.privateKey, ours.kid, { iss: t.issuer, aud: ES });
    assert.equal(await active('worker', forged), false);
    assert.equal(await active('notes-rs', forged), false);
    // The same claims, signed with our key for a registered API: active (the refusals above are the audience's and the key's).
    assert.equal(await active('worker', await accessToken(ours.key, ours.kid, { iss: t.issuer, aud: ES })), true);
  });

  test('an encrypted token (--encrypt) stays inactive to everyone, by design; its revocation answers 200', async () => {
    const token = await tokenFor(SEALED);
    assert.equal(token.split('.').length, 5);
    for (const asker of ['worker', 'notes-rs']) assert.deepEqual({ ...await introspect(asker, token) }, { active: false }, asker);
    await revoke('worker', token);
  });

  test('the default and admin APIs\' tokens are introspected as before, with no look-up of registered APIs; a registered API\'s costs one cached look-up', async () => {
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    const { machineToken } = adminCalls(t);
    const adminToken = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    const defaultToken = (await oidc.clientCredentialsGrant(await as('worker'), { scope: 'basic' })).access_token;
    assert.equal(decodeJwt(defaultToken).aud, t.config.apiAudience);
    const apiToken = await tokenFor(ES);
    const lookups = countCalls(t.tollgate.repositories.apiResources, ['findByIdentifier', 'list']);
    const queries = countQueriesOf(t, 'api_resource');
    try {
      assert.equal(await active('worker', defaultToken), true);
      assert.equal(await active('notes-rs', defaultToken), false);
      assert.equal((await introspectAs(t, 'ops', ops.client_secret!, adminToken)).active, true);
      assert.deepEqual(lookups.calls, { findByIdentifier: 0, list: 0 });
      assert.equal(queries.count(), 0);
      assert.equal(await active('worker', apiToken), true);
      assert.deepEqual(lookups.calls, { findByIdentifier: 1, list: 0 });
      assert.equal(queries.count(), 0, 'the APIs were read before: the look-up is answered from the cache');
      // The counter does see the table's reads.
      await t.tollgate.repositories.apiResources.list();
      assert.equal(queries.count(), 1);
    } finally {
      lookups.restore();
      queries.restore();
    }
  });

  test('after `keys rotate`, a registered API\'s tokens signed with the new key are active, and those signed with the previous one still are', async () => {
    const previous = await tokenFor(ED);
    assert.equal(await active('worker', previous), true);
    const { added } = await rotateSigningKeys(t.dirs.keys);
    const kids = new Set(added);
    // Running instances poll the key file (keys/key-reload.ts): wait until tokens are signed with the new EdDSA key.
    let next = '';
    for (let i = 0; i < 300 && !kids.has(String(decodeProtectedHeader(next || previous).kid)); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      next = await tokenFor(ED);
    }
    assert.ok(kids.has(String(decodeProtectedHeader(next).kid)), 'the rotation reached the token endpoint');
    assert.equal(await active('worker', next), true);
    assert.equal(await active('notes-rs', next), true);
    assert.equal(await active('worker', previous), true);
  });
});

/** Tollgate's current signing key of an algorithm, from its key file (as only a test may read it). */
async function tollgateSigningKey(t: TestTollgate, alg: string) {
  const { keys } = JSON.parse(await readFile(path.join(t.dirs.keys, 'signing-keys.json'), 'utf8')) as { keys: JWK[] };
  const jwk = keys.find((k) => k.alg === alg && k.use === 'sig')!;
  return { key: await importJWK(jwk, alg), kid: jwk.kid! };
}

/** An RFC 9068 access token with these issuer and audience, signed by `key`. */
function accessToken(key: Parameters<SignJWT['sign']>[0], kid: string, claims: { iss: string; aud: string }) {
  return new SignJWT({ client_id: 'worker', scope: 'notes:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(claims.iss).setAudience(claims.aud).setSubject('worker').setJti(randomUUID()).setIssuedAt().setExpirationTime('5m')
    .sign(key);
}

/** Introspection as a client with its own secret (openid-client). */
async function introspectAs(t: TestTollgate, clientId: string, secret: string, token: string) {
  const config = await oidc.discovery(new URL(t.issuer), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
  return oidc.tokenIntrospection(config, token);
}

/** Counts the database statements that name `table`. */
function countQueriesOf(t: TestTollgate, table: string) {
  const database = t.tollgate.database as unknown as { query: (sql: string, ...rest: unknown[]) => Promise<unknown> };
  const original = database.query;
  let count = 0;
  database.query = (sql, ...rest) => {
    if (typeof sql === 'string' && sql.includes(table)) count += 1;
    return original.call(database, sql, ...rest);
  };
  return { count: () => count, restore: () => { database.query = original; } };
}
