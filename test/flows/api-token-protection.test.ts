// The two per-API protections of issue 17 (docs/apis.md), end to end:
// - `--encrypt`: an API's access tokens are nested JWTs, signed by Tollgate
//   then encrypted to the API's key (from its JWKS, or its jwks_uri): jose
//   decrypts them with the API's private key, the inner token verifies
//   against /jwks with typ at+jwt, the toolkit (the built
//   `tollgate/resource-server`) accepts them with the API's keys and no
//   other's; no key, no token (never a plain one); introspection answers
//   `active: false`, deliberately (Tollgate cannot read them).
// - `--require-dpop`: no DPoP proof, no token for that API (RFC 9449 §5);
//   with a proof (oauth4webapi), a DPoP token bound to the key (`cnf.jkt`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, compactDecrypt, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import { createAccessTokenVerifier } from 'tollgate/resource-server';
import { startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';
import { authorizationServer, dpopHandle, insecure, newKey } from '../support/dpop.ts';

const NOTES = 'https://notes.example.test/api';
const LEDGER = 'https://ledger.example.test/api';
const PLAIN = 'https://plain.example.test/api';
const BOUND = 'https://bound.example.test/api';
const GONE = 'https://gone.example.test/api';
const SECRET = 'an-api-protection-client-secret-0123456789';
const PASSWORD = 'correct horse battery';

/** An API's encryption key pair, as the API's operator makes it: the public JWK registered, the private one kept. */
async function apiKeys(alg: 'RSA-OAEP-256' | 'ECDH-ES+A256KW', kid: string) {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...await exportJWK(pair.publicKey), kid, use: 'enc' } as JWK;
  const privateJwk = { ...await exportJWK(pair.privateKey), kid, alg } as JWK;
  return { publicJwk, privateJwk };
}

describe('per-API protections: encrypted access tokens and required DPoP', () => {
  let t: TestTollgate;
  let keysServer: Server;
  let keysUri: string;
  let rsa: Awaited<ReturnType<typeof apiKeys>>;
  let ec: Awaited<ReturnType<typeof apiKeys>>;
  let stranger: Awaited<ReturnType<typeof apiKeys>>;
  const { tokenRequest } = adminCalls({ get issuer() { return t.issuer; } });
  const verifierFor = (audience: string, decryptionKeys?: JWK[]) => createAccessTokenVerifier({
    issuer: t.issuer, audience, jwksUri: `${t.issuer}/jwks`, algorithms: ['ES256', 'RS256', 'EdDSA'], ...(decryptionKeys ? { decryptionKeys } : {}),
  });
  const clientCredentials = (resource: string, extra: Record<string, string> = {}) =>
    tokenRequest('worker', SECRET, { grant_type: 'client_credentials', scope: 'notes:read', resource, ...extra });

  before(async () => {
    [rsa, ec, stranger] = await Promise.all([apiKeys('RSA-OAEP-256', 'notes-enc-1'), apiKeys('ECDH-ES+A256KW', 'ledger-enc-1'), apiKeys('RSA-OAEP-256', 'notes-enc-1')]);
    // The ledger API publishes its key at a jwks_uri of its own.
    keysServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/jwk-set+json');
      res.end(JSON.stringify({ keys: [ec.publicJwk] }));
    });
    await new Promise<void>((resolve) => keysServer.listen(0, '127.0.0.1', resolve));
    keysUri = `http://localhost:${(keysServer.address() as AddressInfo).port}/jwks.json`;
    // The keys server is on this machine: the SSRF guard would refuse it.
    t = await startTestTollgate({ env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    const scopes = ['notes:read', 'notes:write'];
    await t.tollgate.apis.add({ identifier: NOTES, name: 'Notes', scopes, encrypt: true, jwks: { keys: [rsa.publicJwk] } });
    await t.tollgate.apis.add({ identifier: LEDGER, name: 'Ledger', scopes, encrypt: true, jwksUri: keysUri, signingAlg: 'EdDSA' });
    await t.tollgate.apis.add({ identifier: PLAIN, name: 'Plain', scopes });
    await t.tollgate.apis.add({ identifier: BOUND, name: 'Bound', scopes, requireDpop: true });
    // Its keys are unreachable: port 9 (discard) on this machine answers nothing.
    await t.tollgate.apis.add({ identifier: GONE, name: 'Gone', scopes, encrypt: true, jwksUri: 'http://localhost:9/jwks.json' });
    await t.tollgate.clients.register({ id: 'worker', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic notes:read' });
    await t.tollgate.clients.register({
      id: 'notes-app', secret: SECRET, redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access basic notes:read',
    });
    await t.tollgate.accounts.create({ email: 'user@example.test', password: PASSWORD, name: 'Uma User' });
  });
  after(async () => {
    await t?.close();
    keysServer?.close();
  });

  test('client_credentials for an API with --encrypt (JWKS): a nested JWT that only the API\'s key opens, signed by Tollgate with typ at+jwt', async () => {
    const res = await clientCredentials(NOTES);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const token = res.body.access_token!;
    assert.equal(token.split('.').length, 5);
    assert.deepEqual(
      (({ alg, enc, kid, cty }) => ({ alg, enc, kid, cty }))(decodeProtectedHeader(token)),
      { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'notes-enc-1', cty: 'at+jwt' },
    );
    const { plaintext } = await compactDecrypt(token, await importPrivate(rsa.privateJwk));
    const inner = new TextDecoder().decode(plaintext);
    const { payload, protectedHeader } = await jwtVerify(inner, createRemoteJWKSet(new URL(`${t.issuer}/jwks`)), { issuer: t.issuer, audience: NOTES, typ: 'at+jwt' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.deepEqual([payload.client_id, payload.scope], ['worker', 'notes:read']);

    // The API's side: the toolkit with the API's private key.
    const claims = await verifierFor(NOTES, [rsa.privateJwk]).verify(token);
    assert.deepEqual([claims.client_id, claims.aud], ['worker', NOTES]);
    // Another API's toolkit (other keys, even with the same kid) cannot open it; nor one without keys.
    await assert.rejects(verifierFor(NOTES, [stranger.privateJwk]).verify(token), /could not be decrypted/);
    await assert.rejects(verifierFor(NOTES).verify(token), /no key to decrypt/);
  });

  test('the API\'s toolkit refuses a plain token for it (one issued while --encrypt was off)', async () => {
    const notes = await t.tollgate.apis.getByIdentifier(NOTES);
    await t.tollgate.apis.update(notes.id, { encrypt: false });
    try {
      const plain = (await clientCredentials(NOTES)).body.access_token!;
      assert.equal(plain.split('.').length, 3);
      await assert.rejects(verifierFor(NOTES, [rsa.privateJwk]).verify(plain), /not encrypted/);
    } finally {
      await t.tollgate.apis.update(notes.id, { encrypt: true });
    }
    assert.equal((await clientCredentials(NOTES)).body.access_token!.split('.').length, 5);
  });

  test('authorization code + resource for an API whose key is at its jwks_uri (EC): ECDH-ES+A256KW, the toolkit decrypts; refresh keeps it encrypted', async () => {
    const { config, tokens } = await signIn(t, { clientId: 'notes-app', secret: SECRET, email: 'user@example.test', password: PASSWORD, scope: 'openid offline_access notes:read', resource: LEDGER });
    const token = tokens.access_token;
    assert.equal(token.split('.').length, 5);
    assert.deepEqual([decodeProtectedHeader(token).alg, decodeProtectedHeader(token).enc, decodeProtectedHeader(token).kid], ['ECDH-ES+A256KW', 'A256GCM', 'ledger-enc-1']);
    const claims = await verifierFor(LEDGER, [ec.privateJwk]).verify(token);
    assert.deepEqual([claims.aud, claims.scope, claims.client_id], [LEDGER, 'notes:read', 'notes-app']);
    const inner = new TextDecoder().decode((await compactDecrypt(token, await importPrivate(ec.privateJwk))).plaintext);
    assert.equal(decodeProtectedHeader(inner).alg, 'EdDSA');
    assert.equal(decodeProtectedHeader(inner).typ, 'at+jwt');
    await assert.rejects(verifierFor(LEDGER, [rsa.privateJwk]).verify(token), /decrypt/);

    const renewed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: LEDGER });
    assert.equal((await verifierFor(LEDGER, [ec.privateJwk]).verify(renewed.access_token)).aud, LEDGER);
  });

  test('an API without --encrypt gets plain signed tokens', async () => {
    const token = (await clientCredentials(PLAIN)).body.access_token!;
    assert.equal(token.split('.').length, 3);
    assert.equal(decodeJwt(token).aud, PLAIN);
    assert.equal((await verifierFor(PLAIN).verify(token)).aud, PLAIN);
  });

  test('no encryption key (jwks_uri unreachable): no token, an OAuth error that says why, never a plain token', async () => {
    const res = await clientCredentials(GONE);
    assert.equal(res.status, 400);
    assert.equal(res.body.access_token, undefined);
    assert.equal(res.body.error, 'invalid_target');
    assert.match((res.body as { error_description?: string }).error_description ?? '', /encryption key/);
  });

  test('introspection of an encrypted token answers active: false (Tollgate holds no key to read it), even to its own client; revocation answers 200', async () => {
    const token = (await clientCredentials(NOTES)).body.access_token!;
    const res = await fetch(`${t.issuer}/token/introspection`, {
      method: 'POST', headers: { authorization: basicAuth('worker', SECRET), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { active: false });
    // Revocation (RFC 7009 §2.2): 200, whether or not there was anything to revoke.
    const revoked = await fetch(`${t.issuer}/token/revocation`, {
      method: 'POST', headers: { authorization: basicAuth('worker', SECRET), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }),
    });
    assert.equal(revoked.status, 200);
  });

  test('--require-dpop: client_credentials without a proof is refused; with one (oauth4webapi) the token is DPoP-bound', async () => {
    const refused = await clientCredentials(BOUND);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_request');
    assert.equal(refused.body.access_token, undefined);
    // Another API, and the default one, take a bearer request as before.
    assert.equal((await clientCredentials(PLAIN)).status, 200);

    const as = await authorizationServer(t.issuer);
    const client: oauth.Client = { client_id: 'worker' };
    const key = await newKey();
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(SECRET), { scope: 'notes:read', resource: BOUND }, { ...insecure, DPoP: dpopHandle('worker', key) });
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    assert.equal(tokens.token_type, 'dpop');
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.aud, BOUND);
    assert.deepEqual(claims.cnf, { jkt: await calculateJwkThumbprint(await exportJWK(key.publicKey)) });
  });

  test('--require-dpop with the authorization code: refused without a proof, bound with one; the refresh needs one too', async () => {
    const config = await oidc.discovery(new URL(t.issuer), 'notes-app', SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
    // The code exchange without a proof fails; signIn's exchange is openid-client's, without DPoP.
    await assert.rejects(signIn(t, { clientId: 'notes-app', secret: SECRET, email: 'user@example.test', password: PASSWORD, scope: 'openid notes:read', resource: BOUND }),
      (err: { error?: string }) => err.error === 'invalid_request');

    const key = await newKey();
    const { tokens } = await signInWithDpop(t, config, key);
    assert.equal(tokens.token_type, 'dpop');
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.aud, BOUND);
    assert.deepEqual(claims.cnf, { jkt: await calculateJwkThumbprint(await exportJWK(key.publicKey)) });

    const bearer = await tokenRequest('notes-app', SECRET, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, resource: BOUND });
    assert.deepEqual([bearer.status, bearer.body.error], [400, 'invalid_request']);
    // Without `resource`, the refresh token's granted resource is the one checked.
    const granted = await tokenRequest('notes-app', SECRET, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    assert.deepEqual([granted.status, granted.body.error], [400, 'invalid_request']);
    // Neither refusal spent the refresh token: with a proof it is renewed (not taken for a replay).
    const renewed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: BOUND }, { DPoP: oidc.getDPoPHandle(config, key) });
    assert.equal(renewed.token_type, 'dpop');
  });
});

async function importPrivate(jwk: JWK) {
  const { importJWK } = await import('jose');
  return importJWK(jwk, jwk.alg);
}

/** The authorization code flow of signIn, with a DPoP proof at the token endpoint (openid-client's DPoP handle). */
async function signInWithDpop(t: TestTollgate, config: oidc.Configuration, key: Awaited<ReturnType<typeof newKey>>) {
  const { UserAgent } = await import('../support/user-agent.ts');
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid offline_access notes:read', state, prompt: 'consent', resource: BOUND,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const agent = new UserAgent();
  const login = await agent.navigate(url.href, {}, REDIRECT);
  let page = await agent.submit(login, '/login', { login: 'user@example.test', password: PASSWORD }, REDIRECT);
  if (page.status === 200 && page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
  assert.ok(page.url.startsWith(REDIRECT), `expected a redirect to the client, got ${page.status} ${page.url}`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state }, { resource: BOUND }, { DPoP: oidc.getDPoPHandle(config, key) });
  void t;
  return { tokens };
}

describe('an API\'s jwks_uri is fetched with the SSRF guard', () => {
  test('without ALLOW_PRIVATE_NETWORK_FETCH, keys on a loopback address are not fetched: invalid_target, no token', async () => {
    const { publicJwk } = await apiKeys('RSA-OAEP-256', 'local-1');
    let asked = 0;
    const server = createServer((_req, res) => { asked += 1; res.end(JSON.stringify({ keys: [publicJwk] })); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const t = await startTestTollgate();
    try {
      await t.tollgate.apis.add({ identifier: NOTES, name: 'Notes', scopes: ['notes:read'], encrypt: true, jwksUri: `http://localhost:${(server.address() as AddressInfo).port}/jwks.json` });
      await t.tollgate.clients.register({ id: 'worker', secret: SECRET, grantTypes: ['client_credentials'], scope: 'basic notes:read' });
      const res = await adminCalls(t).tokenRequest('worker', SECRET, { grant_type: 'client_credentials', scope: 'notes:read', resource: NOTES });
      assert.deepEqual([res.status, res.body.error, res.body.access_token], [400, 'invalid_target', undefined]);
      assert.equal(asked, 0);
    } finally {
      await t.close();
      server.close();
    }
  });
});
