// Sender-constrained tokens (DPoP, RFC 9449) at Tollgate's own protected
// endpoints: a token bound to a key is accepted with the DPoP scheme and a
// valid proof of that key, and never as a bearer token, at the admin API and
// at userinfo. Tokens are obtained and used by oauth4webapi, a client library
// we did not write; broken proofs are hand-made, one defect each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt, exportJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminResource, signIn } from '../support/sign-in.ts';
import { authorizationServer, boundClientCredentialsToken, dpopHandle, insecure, newKey, proof, type KeyPair } from '../support/dpop.ts';
import { DPOP_ALGORITHMS } from '../../server/resource-server/index.ts';

const PASSWORD = 'correct horse battery';
const WEB_SECRET = 'token-binding-web-client-secret-0123456789';

describe('DPoP-bound tokens at userinfo and the admin API', () => {
  let t: TestTollgate;
  let opsSecret: string;
  let as: oauth.AuthorizationServer;
  let key: KeyPair;
  let adminToken: string;
  let clientsUrl: string;

  before(async () => {
    t = await startTestTollgate();
    opsSecret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'basic admin' })).client_secret!;
    await t.tollgate.clients.register({
      id: 'web', secret: WEB_SECRET, redirectUris: ['https://app.example.test/callback'], firstParty: true,
      grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access basic',
    });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    as = await authorizationServer(t.issuer);
    key = await newKey();
    const tokens = await boundClientCredentialsToken(as, 'ops', opsSecret, key, { scope: 'admin', resource: adminResource(t) });
    assert.equal(tokens.token_type, 'dpop');
    adminToken = tokens.access_token;
    clientsUrl = `${t.issuer}/admin/v1/clients`;
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const withProof = async (token: string, proofValue: string | undefined, scheme = 'DPoP', url = clientsUrl, method = 'GET') =>
    fetch(url, { method, headers: { authorization: `${scheme} ${token}`, ...(proofValue ? { dpop: proofValue } : {}) } });

  test('what discovery advertises is what the admin API enforces', async () => {
    assert.deepEqual(as.dpop_signing_alg_values_supported, [...DPOP_ALGORITHMS]);
    // Ed25519 is advertised: a proof with it is accepted at the admin API.
    const edKey = await newKey('Ed25519');
    const edToken = (await boundClientCredentialsToken(as, 'ops', opsSecret, edKey, { scope: 'admin', resource: adminResource(t) })).access_token;
    const ok = await withProof(edToken, await proof(edKey, { htm: 'GET', htu: clientsUrl, accessToken: edToken }, 'EdDSA'));
    assert.equal(ok.status, 200);
    // RS256 is not: the token endpoint refuses such a proof, and so does the admin API.
    const rsKey = await newKey('RS256');
    const atToken = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`ops:${opsSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(rsKey, { htm: 'POST', htu: `${t.issuer}/token` }, 'RS256') },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: adminResource(t) }),
    });
    assert.equal(atToken.status, 400);
    const res = await withProof(adminToken, await proof(rsKey, { htm: 'GET', htu: clientsUrl, accessToken: adminToken, jwk: await exportJWK(rsKey.publicKey) }, 'RS256'));
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_dpop_proof"/);
  });

  test('oauth4webapi calls the admin API with its DPoP-bound token', async () => {
    assert.ok(decodeJwt(adminToken).cnf, 'the token carries cnf');
    const res = await oauth.protectedResourceRequest(adminToken, 'GET', new URL(clientsUrl), undefined, undefined, { ...insecure, DPoP: dpopHandle('ops', key) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(((await res.json()) as { items: unknown[] }).items.length >= 2);
  });

  test('the bound token presented as a bearer token is refused with the DPoP challenge', async () => {
    const res = await fetch(clientsUrl, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
    assert.match(res.headers.get('www-authenticate') ?? '', new RegExp(`^DPoP realm="[^"]+", error="invalid_token", error_description="[^"]+", algs="${DPOP_ALGORITHMS.join(' ')}"$`));
    // Even with a valid proof beside it: the scheme must be DPoP.
    const withHeader = await withProof(adminToken, await proof(key, { htm: 'GET', htu: clientsUrl, accessToken: adminToken }), 'Bearer');
    assert.equal(withHeader.status, 401);
  });

  test('each broken proof is refused', async () => {
    const other = await newKey();
    const now = Math.floor(Date.now() / 1000);
    const good = { htm: 'GET', htu: clientsUrl, accessToken: adminToken };
    const cases: Array<[string, string | undefined, string]> = [
      ['no proof', undefined, 'invalid_dpop_proof'],
      ['another method', await proof(key, { ...good, htm: 'POST' }), 'invalid_dpop_proof'],
      ['another URL', await proof(key, { ...good, htu: `${t.issuer}/admin/v1/users` }), 'invalid_dpop_proof'],
      ['another host', await proof(key, { ...good, htu: clientsUrl.replace('localhost', '127.0.0.1') }), 'invalid_dpop_proof'],
      ['iat ten minutes ago', await proof(key, { ...good, iat: now - 600 }), 'invalid_dpop_proof'],
      ['iat ten minutes ahead', await proof(key, { ...good, iat: now + 600 }), 'invalid_dpop_proof'],
      ['no ath', await proof(key, { htm: 'GET', htu: clientsUrl }), 'invalid_dpop_proof'],
      ['the ath of another token', await proof(key, { ...good, accessToken: `${adminToken}x` }), 'invalid_dpop_proof'],
      ['typ JWT', await proof(key, { ...good, header: { typ: 'JWT' } }), 'invalid_dpop_proof'],
      ['a private key in the header', await proof(key, { ...good, jwk: await exportJWK(key.privateKey) }), 'invalid_dpop_proof'],
      ['signed by another key than its jwk', await proof(other, { ...good, jwk: await exportJWK(key.publicKey) }), 'invalid_dpop_proof'],
      ['a good proof by a key the token is not bound to', await proof(other, good), 'invalid_token'],
      ['two DPoP headers', `${await proof(key, good)}, ${await proof(key, good)}`, 'invalid_dpop_proof'],
      ['not a JWT', 'garbage', 'invalid_dpop_proof'],
    ];
    for (const [what, value, error] of cases) {
      const res = await withProof(adminToken, value);
      assert.equal(res.status, 401, what);
      assert.equal(((await res.json()) as { error: string }).error, error, what);
      assert.match(res.headers.get('www-authenticate') ?? '', new RegExp(`^DPoP .*error="${error}".*algs="`), what);
    }
  });

  test('a proof is good once; query and fragment of htu are ignored', async () => {
    const once = await proof(key, { htm: 'GET', htu: `${clientsUrl}?ignored=1#x`, accessToken: adminToken });
    assert.equal((await withProof(adminToken, once)).status, 200);
    const replay = await withProof(adminToken, once);
    assert.equal(replay.status, 401);
    assert.match(((await replay.json()) as { error_description: string }).error_description, /used before/);
  });

  test('an unbound token with the DPoP scheme is refused; as a bearer token it still works', async () => {
    const plain = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`ops:${opsSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: adminResource(t) }),
    });
    const { access_token: bearer, token_type } = (await plain.json()) as { access_token: string; token_type: string };
    assert.equal(token_type, 'Bearer');
    assert.equal((await fetch(clientsUrl, { headers: { authorization: `Bearer ${bearer}` } })).status, 200);
    const res = await withProof(bearer, await proof(key, { htm: 'GET', htu: clientsUrl, accessToken: bearer }));
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token"/);
  });

  test('a request without a token hears of both schemes', async () => {
    const res = await fetch(clientsUrl);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${t.issuer}", DPoP realm="${t.issuer}", algs="${DPOP_ALGORITHMS.join(' ')}"`);
  });

  describe('userinfo', () => {
    let userKey: KeyPair;
    let userToken: string;
    const client: oauth.Client = { client_id: 'web' };

    before(async () => {
      // A refresh with a DPoP proof binds the new access token to the key (oauth4webapi sends the proof).
      const { tokens } = await signIn(t, { clientId: 'web', secret: WEB_SECRET, email: 'ada@example.test', password: PASSWORD, scope: 'openid email offline_access basic' });
      userKey = await newKey();
      const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(
        as, client, oauth.ClientSecretBasic(WEB_SECRET), tokens.refresh_token!, { ...insecure, DPoP: oauth.DPoP(client, userKey) },
      ));
      assert.equal(refreshed.token_type, 'dpop');
      userToken = refreshed.access_token;
    });

    test('oauth4webapi reads userinfo with its DPoP-bound token', async () => {
      const res = await oauth.userInfoRequest(as, client, userToken, { ...insecure, DPoP: oauth.DPoP(client, userKey) });
      assert.equal(res.status, 200, await res.clone().text());
      const claims = await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, res);
      assert.equal(claims.email, 'ada@example.test');
    });

    test('the bound token as a bearer token, in the header or the form body, is refused', async () => {
      const header = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${userToken}` } });
      assert.equal(header.status, 401);
      assert.match(header.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token".*algs="/);
      const body = await fetch(`${t.issuer}/me`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: userToken }) });
      assert.equal(body.status, 401);
    });

    test('a proof for another endpoint, or by another key, is refused', async () => {
      const forAdmin = await proof(userKey, { htm: 'GET', htu: clientsUrl, accessToken: userToken });
      assert.equal((await withProof(userToken, forAdmin, 'DPoP', `${t.issuer}/me`)).status, 401);
      const thief = await proof(await newKey(), { htm: 'GET', htu: `${t.issuer}/me`, accessToken: userToken });
      const res = await withProof(userToken, thief, 'DPoP', `${t.issuer}/me`);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
    });

    test('introspection reports the binding (RFC 9449 §6.2)', async () => {
      const res = await fetch(`${t.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`web:${WEB_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: userToken }),
      });
      const body = (await res.json()) as { active: boolean; token_type: string; cnf?: { jkt: string } };
      assert.equal(body.active, true);
      assert.equal(body.token_type, 'DPoP');
      assert.equal(body.cnf?.jkt, (decodeJwt(userToken).cnf as { jkt: string }).jkt);
    });
  });
});
