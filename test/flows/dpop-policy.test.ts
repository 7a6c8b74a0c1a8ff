// DPoP (RFC 9449) by policy: a client registered with
// `dpop_bound_access_tokens` (§5.2, `--require-dpop`) gets no token without
// a proof; a public client's refresh token is bound to the key its first
// proof named (§5, §5.0: refreshing needs the same key); server-provided
// nonces (§8, DPOP_REQUIRE_NONCE) are asked for and retried by
// oauth4webapi, and a nonce one instance gave is good at another sharing
// the cookie secrets. Clients are oauth4webapi and openid-client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { authorizationServer, dpopHandle, insecure, newKey, proof, type KeyPair } from '../support/dpop.ts';

const PASSWORD = 'correct horse battery';
const SECRET = 'dpop-policy-client-secret-0123456789abcdef';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function tokenRequest(t: TestTollgate, body: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, string> };
}

const thumbprint = async (key: KeyPair) => calculateJwkThumbprint(await exportJWK(key.publicKey));

describe('DPoP required per client, and public clients\' bound refresh tokens', () => {
  let t: TestTollgate;

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    await t.tollgate.clients.register({ id: 'bound', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic', requireDpop: true });
    await t.tollgate.clients.register({ id: 'loose', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic' });
    await t.tollgate.clients.register({
      id: 'spa', public: true, redirectUris: [REDIRECT], firstParty: true, grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access basic',
    });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('one proof sent 20 times at once: exactly one token (the jti check is one conditional write, not a read then a write)', async () => {
    const key = await newKey();
    const once = await proof(key, { htm: 'POST', htu: `${t.issuer}/token` });
    const answers = await Promise.all(Array.from({ length: 20 }, () => tokenRequest(t, { grant_type: 'client_credentials', scope: 'basic' }, { authorization: basic('bound', SECRET), dpop: once })));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers.map((a) => a.body.error_description ?? a.status)));
    // oidc-provider's answer to a replayed proof at the token endpoint ("DPoP proof JWT Replay detected").
    for (const a of answers.filter((x) => x.status !== 200)) assert.equal(a.body.error, 'invalid_grant');
    // The check itself, as the library calls it for every proof and client assertion: 50 at once, one first use.
    const replay = t.tollgate.provider.ReplayDetection as unknown as { unique(iss: string, jti: string, exp: number): Promise<boolean> };
    const exp = Math.floor(Date.now() / 1000) + 60;
    const firsts = await Promise.all(Array.from({ length: 50 }, () => replay.unique('bound', 'one-jti', exp)));
    assert.equal(firsts.filter(Boolean).length, 1);
  });

  test('a client registered with --require-dpop: no proof, no token; with a proof, a DPoP token bound to the key', async () => {
    const refused = await tokenRequest(t, { grant_type: 'client_credentials', scope: 'basic' }, { authorization: basic('bound', SECRET) });
    assert.equal(refused.status, 400);
    // oidc-provider answers invalid_grant (its detail, "DPoP proof JWT not provided", stays in the log); RFC 9449 §5.2 names no code.
    assert.equal(refused.body.error, 'invalid_grant');

    const key = await newKey();
    const ok = await tokenRequest(t, { grant_type: 'client_credentials', scope: 'basic' }, {
      authorization: basic('bound', SECRET), dpop: await proof(key, { htm: 'POST', htu: `${t.issuer}/token` }),
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.token_type, 'DPoP');
    assert.deepEqual(decodeJwt(ok.body.access_token!).cnf, { jkt: await thumbprint(key) });

    // A client without the requirement still gets a bearer token without a proof.
    const loose = await tokenRequest(t, { grant_type: 'client_credentials', scope: 'basic' }, { authorization: basic('loose', SECRET) });
    assert.equal(loose.body.token_type, 'Bearer');
  });

  test('the requirement is stated in the client view and turned off and on by an update', async () => {
    assert.equal((await t.tollgate.clients.get('bound')).dpop_bound_access_tokens, true);
    assert.equal((await t.tollgate.clients.get('loose')).dpop_bound_access_tokens, false);
    await t.tollgate.clients.update('loose', { dpop_bound_access_tokens: true });
    assert.equal((await tokenRequest(t, { grant_type: 'client_credentials', scope: 'basic' }, { authorization: basic('loose', SECRET) })).status, 400);
    await t.tollgate.clients.update('loose', { dpop_bound_access_tokens: false });
    assert.equal((await tokenRequest(t, { grant_type: 'client_credentials', scope: 'basic' }, { authorization: basic('loose', SECRET) })).status, 200);
  });

  test('a public client\'s refresh token is bound to its key: refused without the proof or with another key', async () => {
    const rp = await relyingParty(t, 'spa');
    const key = await newKey();
    const { url, verifier, state, nonce } = await authorizationRequest(rp, { scope: 'openid email offline_access basic', prompt: 'consent' });
    const page = await logInWith(new UserAgent(), url, { email: 'ada@example.test', password: PASSWORD });
    assert.ok(page.url.startsWith(REDIRECT), page.url);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }, undefined, { DPoP: oidc.getDPoPHandle(rp, key) });
    assert.equal(tokens.token_type, 'dpop');
    assert.ok(tokens.refresh_token);

    const refresh = { grant_type: 'refresh_token', client_id: 'spa', refresh_token: tokens.refresh_token };
    const bare = await tokenRequest(t, refresh);
    assert.equal(bare.status, 400);
    assert.equal(bare.body.error, 'invalid_grant');
    const stolen = await tokenRequest(t, refresh, { dpop: await proof(await newKey(), { htm: 'POST', htu: `${t.issuer}/token` }) });
    assert.equal(stolen.status, 400);
    assert.equal(stolen.body.error, 'invalid_grant');

    // The holder of the key refreshes (the failed attempts did not spend the token).
    const renewed = await oidc.refreshTokenGrant(rp, tokens.refresh_token, undefined, { DPoP: oidc.getDPoPHandle(rp, key) });
    assert.equal(renewed.token_type, 'dpop');
    assert.deepEqual(decodeJwt(renewed.access_token).cnf, { jkt: await thumbprint(key) });
  });
});

describe('DPOP_REQUIRE_NONCE=true: server-provided nonces (RFC 9449 §8)', () => {
  const cookieSecrets = 'dpop-nonce-shared-cookie-secret-0123456789abcdef';
  let a: TestTollgate;
  let b: TestTollgate;

  before(async () => {
    // Two instances sharing their cookie secrets, as instances behind one balancer do.
    const start = () => startTestTollgate({ env: { DPOP_REQUIRE_NONCE: 'true', COOKIE_SECRETS: cookieSecrets } });
    [a, b] = [await start(), await start()];
    for (const t of [a, b]) await t.tollgate.clients.register({ id: 'svc', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic' });
  });
  after(async () => {
    for (const t of [a, b]) {
      await t?.close();
      if (t) await removeDirs(t.dirs);
    }
  });

  test('a proof without a nonce gets use_dpop_nonce and the nonce; oauth4webapi retries with it and gets a bound token', async () => {
    const as = await authorizationServer(a.issuer);
    const client: oauth.Client = { client_id: 'svc' };
    const key = await newKey();
    const handle = dpopHandle('svc', key);
    const attempt = async () => oauth.processClientCredentialsResponse(as, client,
      await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(SECRET), { scope: 'basic' }, { ...insecure, DPoP: handle }));

    await assert.rejects(attempt(), (err: unknown) => oauth.isDPoPNonceError(err));
    const tokens = await attempt();
    assert.equal(tokens.token_type, 'dpop');
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt: await thumbprint(key) });
  });

  test('the challenge carries DPoP-Nonce; a nonce from one instance is accepted by another; a forged one is not', async () => {
    const key = await newKey();
    const first = await tokenRequest(a, { grant_type: 'client_credentials', scope: 'basic' }, {
      authorization: basic('svc', SECRET), dpop: await proof(key, { htm: 'POST', htu: `${a.issuer}/token` }),
    });
    assert.equal(first.status, 400);
    assert.equal(first.body.error, 'use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    assert.ok(nonce, 'DPoP-Nonce header');

    const atB = await tokenRequest(b, { grant_type: 'client_credentials', scope: 'basic' }, {
      authorization: basic('svc', SECRET), dpop: await proof(key, { htm: 'POST', htu: `${b.issuer}/token`, nonce }),
    });
    assert.equal(atB.status, 200, JSON.stringify(atB.body));
    assert.equal(atB.body.token_type, 'DPoP');

    const forged = await tokenRequest(b, { grant_type: 'client_credentials', scope: 'basic' }, {
      authorization: basic('svc', SECRET), dpop: await proof(key, { htm: 'POST', htu: `${b.issuer}/token`, nonce: 'not-a-nonce-we-gave' }),
    });
    assert.equal(forged.status, 400);
    assert.equal(forged.body.error, 'use_dpop_nonce');
  });
});
