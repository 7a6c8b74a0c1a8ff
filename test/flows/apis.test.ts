// APIs (resource servers) as data (issue 17, point 1; docs/apis.md): an API
// registered through the admin API gets tokens with its own audience,
// scopes, lifetime and algorithm, asked for with `resource` (RFC 8707) by
// openid-client, verified by the resource-server toolkit against /jwks; an
// unknown resource is invalid_target; the default API is as before; bad
// registrations answer 400 with the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls } from '../support/admin.ts';
import { signIn } from '../support/sign-in.ts';
import { createAccessTokenVerifier } from '../../server/resource-server/index.ts';

const NOTES = 'https://notes.example.test/api';
const SECRET = 'a-web-app-secret-that-is-long-enough-1234';

describe('APIs as data: registration, and tokens for them', () => {
  let t: TestTollgate;
  let admin: string;
  let notesId: string;
  const { machineToken, api, tokenRequest } = adminCalls({ get issuer() { return t.issuer; } });
  const machine = () => oidc.discovery(new URL(t.issuer), 'notes-worker', SECRET, undefined, { execute: [oidc.allowInsecureRequests] });

  before(async () => {
    t = await startTestTollgate();
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    const created = await api('POST', '/apis', {
      token: admin, json: { identifier: NOTES, name: 'Notes', scopes: ['notes:read', 'notes:write', 'notes:admin'], access_token_ttl: 600, signing_alg: 'EdDSA' },
    });
    assert.equal(created.status, 201, created.text);
    notesId = created.body.id;
    await t.tollgate.clients.register({ id: 'notes-app', secret: SECRET, redirectUris: ['https://app.example.test/callback'], scope: 'openid email basic notes:read notes:write' });
    await t.tollgate.clients.register({ id: 'notes-worker', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic notes:read' });
    await t.tollgate.accounts.create({ email: 'user@example.test', password: 'correct horse battery', name: 'Uma User' });
  });
  after(() => t.close());

  test('the admin API registers, lists, reads and audits an API', async () => {
    const list = await api('GET', '/apis', { token: admin });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((a: { identifier: string }) => a.identifier), [NOTES]);
    const one = await api('GET', `/apis/${notesId}`, { token: admin });
    assert.deepEqual({ ...one.body, created_at: undefined, updated_at: undefined }, {
      id: notesId, identifier: NOTES, name: 'Notes', scopes: ['notes:read', 'notes:write', 'notes:admin'], access_token_ttl: 600, signing_alg: 'EdDSA',
      require_dpop: false, encrypt: false, jwks: null, jwks_uri: null, created_at: undefined, updated_at: undefined,
    });
    assert.equal((await api('GET', '/apis/00000000-0000-4000-8000-000000000000', { token: admin })).status, 404);
    assert.equal((await api('GET', '/apis/not-a-uuid', { token: admin })).status, 404);
    const { events } = await t.tollgate.audit.page({ limit: 100 });
    assert.ok(events.some((e) => e.type === 'admin.api.created' && (e.details as { api_id?: string }).api_id === notesId));
  });

  test('authorization code + resource: the API\'s audience, the scopes asked for that the client may have, its lifetime and algorithm; the toolkit verifies it', async () => {
    const { tokens } = await signIn(t, { clientId: 'notes-app', secret: SECRET, email: 'user@example.test', password: 'correct horse battery', scope: 'openid email notes:read notes:admin', resource: NOTES });
    const claims = decodeJwt(tokens.access_token);
    assert.equal(decodeProtectedHeader(tokens.access_token).alg, 'EdDSA');
    assert.equal(claims.aud, NOTES);
    // notes:write was not asked for; notes:admin is not in the client's registered scope.
    assert.equal(claims.scope, 'notes:read');
    assert.equal(claims.exp! - claims.iat!, 600);
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: NOTES, jwksUri: `${t.issuer}/jwks`, algorithms: ['EdDSA'] });
    assert.equal((await verifier.verify(tokens.access_token)).sub, claims.sub);
    const defaultAlgorithms = createAccessTokenVerifier({ issuer: t.issuer, audience: NOTES, jwksUri: `${t.issuer}/jwks` });
    await assert.rejects(defaultAlgorithms.verify(tokens.access_token), /algorithm/);
  });

  test('client_credentials + resource; a change of algorithm and lifetime applies to the next token', async () => {
    const config = await machine();
    const first = await oidc.clientCredentialsGrant(config, { scope: 'notes:read notes:write', resource: NOTES });
    let claims = decodeJwt(first.access_token);
    assert.deepEqual([claims.aud, claims.scope, claims.exp! - claims.iat!, decodeProtectedHeader(first.access_token).alg], [NOTES, 'notes:read', 600, 'EdDSA']);

    const changed = await api('PATCH', `/apis/${notesId}`, { token: admin, json: { signing_alg: 'RS256', access_token_ttl: 120 } });
    assert.equal(changed.status, 200, changed.text);
    const second = await oidc.clientCredentialsGrant(config, { scope: 'notes:read', resource: NOTES });
    claims = decodeJwt(second.access_token);
    assert.deepEqual([claims.exp! - claims.iat!, decodeProtectedHeader(second.access_token).alg], [120, 'RS256']);
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: NOTES, jwksUri: `${t.issuer}/jwks`, algorithms: ['RS256'] });
    assert.equal((await verifier.verify(second.access_token)).client_id, 'notes-worker');
    await api('PATCH', `/apis/${notesId}`, { token: admin, json: { signing_alg: 'EdDSA', access_token_ttl: 600 } });
  });

  test("a client's registered scope may list a registered API's scopes, not unknown ones", async () => {
    await assert.rejects(t.tollgate.clients.register({ id: 'unknown-scope', grantTypes: ['client_credentials'], scope: 'basic nope:read' }), /scope/);
    // Without one of Tollgate's own scopes the library would hold the client to none of them: refused.
    await assert.rejects(t.tollgate.clients.register({ id: 'api-only', grantTypes: ['client_credentials'], scope: 'notes:read' }), /own scopes/);
    const { client } = await t.tollgate.clients.register({ id: 'no-notes', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic' });
    assert.equal(client.scope, 'basic');
    const refused = await tokenRequest('no-notes', SECRET, { grant_type: 'client_credentials', scope: 'notes:read', resource: NOTES });
    // The library answers with a token without scope, or refuses: never notes:read.
    if (refused.body.access_token) assert.equal(decodeJwt(refused.body.access_token).scope, undefined);
    else assert.equal(refused.status, 400);
    const updated = await t.tollgate.clients.update('notes-worker', { scope: 'basic notes:read notes:write' });
    assert.equal(updated.after.scope, 'basic notes:read notes:write');
    const widened = await tokenRequest('notes-worker', SECRET, { grant_type: 'client_credentials', scope: 'notes:read notes:write', resource: NOTES });
    assert.equal(decodeJwt(widened.body.access_token!).scope, 'notes:read notes:write');
    await t.tollgate.clients.update('notes-worker', { scope: 'basic notes:read' });
  });

  test('an unknown resource is invalid_target; the default API is as before', async () => {
    const unknown = await tokenRequest('notes-worker', SECRET, { grant_type: 'client_credentials', scope: 'notes:read', resource: 'https://other.example.test/api' });
    assert.deepEqual([unknown.status, unknown.body.error], [400, 'invalid_target']);
    const plain = await tokenRequest('notes-worker', SECRET, { grant_type: 'client_credentials', scope: 'basic' });
    const claims = decodeJwt(plain.body.access_token!);
    assert.deepEqual([claims.aud, claims.scope, claims.exp! - claims.iat!, decodeProtectedHeader(plain.body.access_token!).alg],
      [t.config.apiAudience, 'basic', t.config.ttl.accessToken, t.config.accessTokenSigningAlg]);
  });

  test('bad registrations answer 400 naming the field; a taken identifier 409', async () => {
    const base = { identifier: 'https://bad.example.test', name: 'Bad', scopes: ['x:read'] };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ identifier: 'http://api.example.test' }, 'identifier'],
      [{ identifier: 'not a uri' }, 'identifier'],
      [{ identifier: 'https://api.example.test/#frag' }, 'identifier'],
      [{ identifier: t.config.apiAudience }, 'identifier'],
      [{ identifier: `${t.issuer}/admin/v1` }, 'identifier'],
      [{ scopes: ['has space'] }, 'scopes.0'],
      [{ scopes: ['quo"te'] }, 'scopes.0'],
      [{ scopes: [] }, 'scopes'],
      [{ access_token_ttl: 30 }, 'access_token_ttl'],
      [{ access_token_ttl: 86_401 }, 'access_token_ttl'],
      [{ signing_alg: 'HS256' }, 'signing_alg'],
      [{ encrypt: true }, 'encrypt'],
      [{ encrypt: true, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'jwks'],
      [{ encrypt: true, jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'private' }] } }, 'jwks'],
      [{ encrypt: true, jwks_uri: 'http://keys.example.test/jwks' }, 'jwks_uri'],
      [{ name: 'nul\u0000' }, 'name'],
    ];
    for (const [change, field] of cases) {
      const res = await api('POST', '/apis', { token: admin, json: { ...base, ...change } });
      assert.equal(res.status, 400, `${JSON.stringify(change)}: ${res.text}`);
      assert.ok(field in res.body.fields, `${JSON.stringify(change)}: ${res.text}`);
    }
    assert.equal((await api('POST', '/apis', { token: admin, json: { ...base, identifier: NOTES } })).status, 409);
    assert.equal((await api('PATCH', `/apis/${notesId}`, { token: admin, json: { access_token_ttl: 5 } })).status, 400);
    const { publicKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    const jwk = publicKey.export({ format: 'jwk' });
    const encrypted = await api('POST', '/apis', { token: admin, json: { ...base, identifier: 'https://sealed.example.test', encrypt: true, jwks: { keys: [{ ...jwk, use: 'enc' }] } } });
    assert.equal(encrypted.status, 201, encrypted.text);
    assert.equal((await api('DELETE', `/apis/${encrypted.body.id}`, { token: admin })).status, 204);
  });

  test('a removed API gets no more tokens', async () => {
    const removable = await api('POST', '/apis', { token: admin, json: { identifier: 'https://gone.example.test', name: 'Gone', scopes: ['notes:read'] } });
    const config = await machine();
    assert.equal(decodeJwt((await oidc.clientCredentialsGrant(config, { scope: 'notes:read', resource: 'https://gone.example.test' })).access_token).aud, 'https://gone.example.test');
    assert.equal((await api('DELETE', `/apis/${removable.body.id}`, { token: admin })).status, 204);
    assert.equal((await api('DELETE', `/apis/${removable.body.id}`, { token: admin })).status, 404);
    const refused = await tokenRequest('notes-worker', SECRET, { grant_type: 'client_credentials', scope: 'notes:read', resource: 'https://gone.example.test' });
    assert.equal(refused.body.error, 'invalid_target');
  });
});
