// JWE (issue 17 point 2): ID tokens and userinfo encrypted to clients that
// register an encryption alg and their keys (OpenID Connect Core §10.2,
// §5.3.2), with openid-client and oauth4webapi as the clients and jose to
// decrypt; request objects (RFC 9101) encrypted to Tollgate's own `use: enc`
// keys from /jwks, also to the previous generation after `keys rotate`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import * as oauth from 'oauth4webapi';
import {
  CompactEncrypt, SignJWT, compactDecrypt, createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify,
  type CryptoKey, type JWK,
} from 'jose';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty } from '../support/sign-in.ts';
import { adminCalls } from '../support/admin.ts';
import { rotateSigningKeys } from '../../server/keys/key-store.ts';

const PASSWORD = 'correct horse battery';
const EMAIL = 'enc@example.test';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

/** A client's key pair: the private CryptoKey it keeps, the public JWK it registers. */
async function clientKey(alg: string, use: 'enc' | 'sig', kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('RS') ? { modulusLength: 2048 } : {}) });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use } as JWK };
}

describe('JWE: encrypted ID tokens, userinfo and request objects', () => {
  let t: TestTollgate;
  let rsaEnc: Awaited<ReturnType<typeof clientKey>>;
  let ecEnc: Awaited<ReturnType<typeof clientKey>>;
  let sig: Awaited<ReturnType<typeof clientKey>>;
  const secrets: Record<string, string> = {};
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });

  before(async () => {
    t = await startTestTollgate();
    [rsaEnc, ecEnc, sig] = await Promise.all([clientKey('RSA-OAEP-256', 'enc', 'rp-rsa'), clientKey('ECDH-ES+A256KW', 'enc', 'rp-ec'), clientKey('ES256', 'sig', 'rp-sig')]);
    const common = { redirectUris: [REDIRECT], scope: 'openid profile email basic' };
    secrets.rsa = (await t.tollgate.clients.register({
      ...common, id: 'enc-rsa', jwks: { keys: [rsaEnc.jwk, sig.jwk] },
      idTokenEncryptedResponseAlg: 'RSA-OAEP-256', idTokenEncryptedResponseEnc: 'A256GCM', userinfoEncryptedResponseAlg: 'RSA-OAEP-256',
    })).client_secret!;
    secrets.ec = (await t.tollgate.clients.register({
      ...common, id: 'enc-ec', jwks: { keys: [ecEnc.jwk] },
      idTokenEncryptedResponseAlg: 'ECDH-ES+A256KW', idTokenEncryptedResponseEnc: 'A256GCM', userinfoEncryptedResponseAlg: 'ECDH-ES+A256KW',
    })).client_secret!;
    // Misregistered: no key for its userinfo alg; keys at a URL that does not answer.
    secrets.mismatch = (await t.tollgate.clients.register({ ...common, id: 'mismatch', jwks: { keys: [ecEnc.jwk] }, userinfoEncryptedResponseAlg: 'RSA-OAEP-256' })).client_secret!;
    secrets.unreachable = (await t.tollgate.clients.register({ ...common, id: 'unreachable', jwksUri: 'https://jwks.invalid/keys.json', userinfoEncryptedResponseAlg: 'RSA-OAEP-256' })).client_secret!;
    // Userinfo signed only (OpenID Connect Core §5.3.2), not encrypted.
    secrets.signed = (await t.tollgate.clients.register({ ...common, id: 'signed-ui', userinfoSignedResponseAlg: 'ES256' })).client_secret!;
    // Signs its request objects (RFC 9101 §4) and encrypts them to Tollgate; its ID tokens are plain.
    secrets.jar = (await t.tollgate.clients.register({ ...common, id: 'jar', jwks: { keys: [sig.jwk] } })).client_secret!;
    await t.tollgate.accounts.create({ email: EMAIL, password: PASSWORD, name: 'Erin Encrypted' });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const jwks = () => createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
  const published = async () => ((await (await fetch(`${t.issuer}/jwks`)).json()) as { keys: JWK[] }).keys;

  /** Decrypts a nested JWT with the client's key, then verifies the inner JWS against Tollgate's /jwks. */
  async function openNested(jwe: string, key: CryptoKey, expected: { alg: string; kid: string; audience: string }) {
    assert.equal(jwe.split('.').length, 5, 'a compact JWE');
    const header = decodeProtectedHeader(jwe);
    assert.equal(header.alg, expected.alg);
    assert.equal(header.enc, 'A256GCM');
    assert.equal(header.kid, expected.kid, 'names the client key it was encrypted to');
    assert.equal(header.cty, 'JWT', 'nested: RFC 7519 §5.2');
    const { plaintext } = await compactDecrypt(jwe, key);
    const inner = new TextDecoder().decode(plaintext);
    const { payload, protectedHeader } = await jwtVerify(inner, jwks(), { issuer: t.issuer, audience: expected.audience });
    assert.equal(protectedHeader.alg, 'RS256');
    return payload;
  }

  test('discovery advertises exactly the enabled algorithms; /jwks publishes the public encryption keys', async () => {
    const meta = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const algs = ['RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW'];
    const encs = ['A256GCM', 'A128GCM'];
    assert.deepEqual(meta.id_token_encryption_alg_values_supported, algs);
    assert.deepEqual(meta.id_token_encryption_enc_values_supported, encs);
    assert.deepEqual(meta.userinfo_encryption_alg_values_supported, algs);
    assert.deepEqual(meta.userinfo_encryption_enc_values_supported, encs);
    // Request objects: those of the algs Tollgate's own keys decrypt (one alg per key).
    assert.deepEqual(meta.request_object_encryption_alg_values_supported, ['RSA-OAEP-256', 'ECDH-ES']);
    assert.deepEqual(meta.request_object_encryption_enc_values_supported, encs);
    assert.equal(meta.request_parameter_supported, true);
    assert.ok(!(meta.request_object_signing_alg_values_supported as string[]).includes('none'), 'request objects are signed (RFC 9101)');

    const keys = await published();
    const enc = keys.filter((k) => k.use === 'enc');
    assert.deepEqual(enc.map((k) => [k.kty, k.alg]).sort(), [['EC', 'ECDH-ES'], ['RSA', 'RSA-OAEP-256']]);
    for (const key of keys) for (const member of PRIVATE_MEMBERS) assert.equal(key[member as keyof JWK], undefined, `/jwks shows ${member}`);
  });

  test('RSA-OAEP-256 + A256GCM with openid-client: the ID token and userinfo decrypt with the client key and verify against /jwks', async () => {
    const config = await relyingParty(t, 'enc-rsa', secrets.rsa);
    oidc.enableDecryptingResponses(config, ['A256GCM'], { key: rsaEnc.privateKey, kid: 'rp-rsa' });
    const { url, verifier, state, nonce } = await authorizationRequest(config, { scope: 'openid profile email' });
    const page = await logInWith(new UserAgent(), url, { email: EMAIL, password: PASSWORD });
    assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.body.slice(0, 200)}`);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    // openid-client decrypted and validated it.
    assert.equal(tokens.claims()!.email, EMAIL);
    const idToken = await openNested(tokens.id_token!, rsaEnc.privateKey, { alg: 'RSA-OAEP-256', kid: 'rp-rsa', audience: 'enc-rsa' });
    assert.equal(idToken.nonce, nonce);
    assert.equal(idToken.email, EMAIL);

    const sub = String(idToken.sub);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    assert.equal(info.email, EMAIL);
    assert.equal(info.name, 'Erin Encrypted');

    const raw = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(raw.status, 200);
    assert.match(raw.headers.get('content-type')!, /^application\/jwt/);
    const userinfo = await openNested(await raw.text(), rsaEnc.privateKey, { alg: 'RSA-OAEP-256', kid: 'rp-rsa', audience: 'enc-rsa' });
    assert.equal(userinfo.sub, sub);
    assert.equal(userinfo.email, EMAIL);
  });

  test('ECDH-ES+A256KW + A256GCM with oauth4webapi: the ID token and userinfo decrypt with the client key and verify against /jwks', async () => {
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(new URL(t.issuer), await oauth.discoveryRequest(new URL(t.issuer), insecure));
    const client: oauth.Client = { client_id: 'enc-ec' };
    const clientAuth = oauth.ClientSecretBasic(secrets.ec!);
    let decrypted = 0;
    const decrypt: oauth.JweDecryptFunction = async (jwe) => {
      decrypted += 1;
      return new TextDecoder().decode((await compactDecrypt(jwe, ecEnc.privateKey)).plaintext);
    };
    const verifier = oauth.generateRandomCodeVerifier();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: 'enc-ec', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid email', nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    const page = await logInWith(new UserAgent(), url, { email: EMAIL, password: PASSWORD });
    assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.body.slice(0, 200)}`);
    const params = oauth.validateAuthResponse(as, client, new URL(page.url), oauth.expectNoState);
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT, verifier, insecure);
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, [oauth.jweDecrypt]: decrypt });
    assert.equal(decrypted, 1, 'the ID token came encrypted');
    assert.equal(oauth.getValidatedIdTokenClaims(result)!.email, EMAIL);
    const idToken = await openNested(result.id_token!, ecEnc.privateKey, { alg: 'ECDH-ES+A256KW', kid: 'rp-ec', audience: 'enc-ec' });
    assert.equal(idToken.nonce, nonce);

    const userinfoResponse = await oauth.userInfoRequest(as, client, result.access_token, insecure);
    const info = await oauth.processUserInfoResponse(as, client, String(idToken.sub), userinfoResponse, { [oauth.jweDecrypt]: decrypt });
    assert.equal(decrypted, 2, 'userinfo came encrypted');
    assert.equal(info.email, EMAIL);
  });

  test('a client that registered userinfo_signed_response_alg alone gets a signed JWT from /me; one that registered nothing gets JSON', async () => {
    for (const [clientId, secret] of [['signed-ui', secrets.signed], ['jar', secrets.jar]] as const) {
      const config = await relyingParty(t, clientId, secret);
      const { url, verifier, state, nonce } = await authorizationRequest(config, { scope: 'openid email' });
      const page = await logInWith(new UserAgent(), url, { email: EMAIL, password: PASSWORD });
      const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const res = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(res.status, 200);
      if (clientId === 'jar') {
        assert.match(res.headers.get('content-type')!, /^application\/json/);
        assert.equal(((await res.json()) as { email: string }).email, EMAIL);
        continue;
      }
      assert.match(res.headers.get('content-type')!, /^application\/jwt/);
      const jwt = await res.text();
      assert.equal(jwt.split('.').length, 3, 'a JWS, not encrypted');
      const { payload, protectedHeader } = await jwtVerify(jwt, jwks(), { issuer: t.issuer, audience: 'signed-ui' });
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(payload.email, EMAIL);
    }
  });

  test('a client whose keys cannot be used for its userinfo alg gets 400 invalid_client_metadata from /me, never a 500', async () => {
    for (const clientId of ['mismatch', 'unreachable']) {
      const config = await relyingParty(t, clientId, secrets[clientId]);
      const { url, verifier, state, nonce } = await authorizationRequest(config, { scope: 'openid email' });
      const page = await logInWith(new UserAgent(), url, { email: EMAIL, password: PASSWORD });
      const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const res = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const body = (await res.json()) as { error: string; error_description: string };
      assert.equal(res.status, 400, `${clientId}: ${JSON.stringify(body)}`);
      assert.equal(body.error, 'invalid_client_metadata', clientId);
    }
  });

  test('weak or symmetric algorithms are refused at registration: 400 invalid_client_metadata, nothing stored', async () => {
    const ops = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    const admin = (await machineToken('ops', ops, 'admin')).body.access_token!;
    const base = { redirect_uris: [REDIRECT], jwks: { keys: [rsaEnc.jwk] } };
    const cases: Array<[string, Record<string, unknown>]> = [
      ['rsa1-5', { id_token_encrypted_response_alg: 'RSA1_5' }],
      ['rsa-oaep-sha1', { userinfo_encrypted_response_alg: 'RSA-OAEP' }],
      ['dir', { id_token_encrypted_response_alg: 'dir' }],
      ['a256kw', { id_token_encrypted_response_alg: 'A256KW' }],
      ['cbc', { id_token_encrypted_response_alg: 'RSA-OAEP-256', id_token_encrypted_response_enc: 'A128CBC-HS256' }],
    ];
    for (const [id, metadata] of cases) {
      const res = await api('POST', '/clients', { token: admin, json: { client_id: id, ...base, ...metadata } });
      assert.equal(res.status, 400, `${id}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_client_metadata', `${id}: ${res.text}`);
      assert.equal((await api('GET', `/clients/${id}`, { token: admin })).status, 404);
    }
    const noKeys = await api('POST', '/clients', { token: admin, json: { client_id: 'no-keys', redirect_uris: [REDIRECT], id_token_encrypted_response_alg: 'RSA-OAEP-256' } });
    assert.equal(noKeys.status, 400, noKeys.text);
    assert.match(String(noKeys.body.error_description), /jwks/);
    const privateKey = await api('POST', '/clients', {
      token: admin, json: { client_id: 'leaky', ...base, jwks: { keys: [await exportJWK(rsaEnc.privateKey)] }, id_token_encrypted_response_alg: 'RSA-OAEP-256' },
    });
    assert.equal(privateKey.status, 400, 'a private key is never taken as client metadata');

    // Accepted through the admin API under RFC 7591 names; enc defaults to A256GCM, userinfo is signed under its encryption.
    const ok = await api('POST', '/clients', { token: admin, json: { client_id: 'api-enc', ...base, id_token_encrypted_response_alg: 'RSA-OAEP-256', userinfo_encrypted_response_alg: 'RSA-OAEP-256' } });
    assert.equal(ok.status, 201, ok.text);
    const client = ok.body.client as Record<string, unknown>;
    assert.equal(client.id_token_encrypted_response_enc, 'A256GCM');
    assert.equal(client.userinfo_encrypted_response_enc, 'A256GCM');
    assert.equal(client.userinfo_signed_response_alg, 'RS256');
    assert.deepEqual(client.jwks, base.jwks);
    const patched = await api('PATCH', '/clients/api-enc', { token: admin, json: { id_token_encrypted_response_alg: 'ECDH-ES', jwks: { keys: [ecEnc.jwk] }, userinfo_encrypted_response_alg: null } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.id_token_encrypted_response_alg, 'ECDH-ES');
    assert.equal(patched.body.id_token_encrypted_response_enc, 'A256GCM');
    assert.equal(patched.body.userinfo_encrypted_response_alg, undefined);
    assert.equal(patched.body.userinfo_encrypted_response_enc, undefined, 'no enc without its alg');
    const weakPatch = await api('PATCH', '/clients/api-enc', { token: admin, json: { id_token_encrypted_response_alg: 'RSA1_5' } });
    assert.equal(weakPatch.status, 400);
    assert.equal(weakPatch.body.error, 'invalid_client_metadata');

    const spec = (await (await fetch(`${t.issuer}/admin/v1/openapi.json`)).json()) as { components: { schemas: { Client: { properties: Record<string, { enum?: string[] }> } } } };
    const props = spec.components.schemas.Client.properties;
    for (const name of ['jwks', 'jwks_uri', 'id_token_encrypted_response_alg', 'id_token_encrypted_response_enc', 'userinfo_encrypted_response_alg', 'userinfo_encrypted_response_enc', 'userinfo_signed_response_alg']) {
      assert.ok(props[name], `the OpenAPI Client schema lists ${name}`);
    }
    assert.deepEqual(props.id_token_encrypted_response_alg!.enum, ['RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW']);
  });

  /** A request object signed by the client's key, encrypted to `to` (a public key from Tollgate's /jwks). */
  async function encryptedRequestObject(to: JWK, claims: Record<string, unknown>) {
    const signed = await new SignJWT({ ...claims, client_id: 'jar' })
      .setProtectedHeader({ alg: 'ES256', kid: 'rp-sig', typ: 'oauth-authz-req+jwt' })
      .setIssuer('jar').setAudience(t.issuer).setIssuedAt().setExpirationTime('5m').setNotBefore('0s').setJti(crypto.randomUUID())
      .sign(sig.privateKey);
    return new CompactEncrypt(new TextEncoder().encode(signed))
      .setProtectedHeader({ alg: to.alg!, enc: 'A256GCM', kid: to.kid!, cty: 'JWT' })
      .encrypt(await importJWK(to, to.alg));
  }

  /** Sends a request object by value (RFC 9101 §5.1) and signs in; the callback URL, or the page where it stopped. */
  async function authorizeWith(request: string, agent = new UserAgent()) {
    const url = new URL(`${t.issuer}/auth`);
    url.search = new URLSearchParams({ client_id: 'jar', request }).toString();
    return logInWith(agent, url, { email: EMAIL, password: PASSWORD });
  }

  async function requestClaims() {
    const verifier = oidc.randomPKCECodeVerifier();
    return {
      verifier,
      claims: {
        response_type: 'code', redirect_uri: REDIRECT, scope: 'openid email', state: `s-${crypto.randomUUID()}`, nonce: 'n-1',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      },
    };
  }

  test('a request object signed by the client and encrypted to Tollgate (RSA-OAEP-256 and ECDH-ES) is accepted; to an unknown key, refused', async () => {
    const keys = (await published()).filter((k) => k.use === 'enc');
    for (const key of keys) {
      const { claims, verifier } = await requestClaims();
      const page = await authorizeWith(await encryptedRequestObject(key, claims));
      assert.ok(page.url.startsWith(REDIRECT), `${key.alg}: ${page.status} ${page.body.slice(0, 300)}`);
      const callback = new URL(page.url);
      assert.equal(callback.searchParams.get('state'), claims.state, `${key.alg}: the state came from inside the request object`);
      assert.ok(callback.searchParams.get('code'));
      // The code redeems with the PKCE verifier whose challenge travelled encrypted.
      const config = await relyingParty(t, 'jar', secrets.jar);
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: claims.state, expectedNonce: 'n-1' });
      assert.equal(tokens.claims()!.email, EMAIL);
    }

    const stranger = { ...(await exportJWK((await generateKeyPair('RSA-OAEP-256')).publicKey)), alg: 'RSA-OAEP-256', kid: keys[0]!.kid };
    const { claims } = await requestClaims();
    const refused = await authorizeWith(await encryptedRequestObject(stranger, claims));
    // The redirect URI is inside what could not be decrypted: the error stays at Tollgate.
    assert.equal(refused.status, 400);
    assert.match(refused.body, /invalid_request_object/);
  });

  test('malformed, weakly encrypted or unsigned request objects: 400 invalid_request_object, never a 500', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const requests = [
      'garbage', 'a.b.c.d.e',
      `${b64({ alg: 'RSA1_5', enc: 'A128CBC-HS256' })}.x.y.z.w`,
      `${b64({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })}.x.y.z.w`,
      `${b64({ alg: 'ECDH-ES', enc: 'A256GCM', epk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } })}..y.z.w`,
      `${b64({ alg: 'none' })}.${b64({ client_id: 'jar', response_type: 'code', redirect_uri: REDIRECT })}.`,
    ];
    for (const request of requests) {
      const res = await fetch(`${t.issuer}/auth?${new URLSearchParams({ client_id: 'jar', request })}`, { redirect: 'manual' });
      assert.equal(res.status, 400, request);
      assert.match(await res.text(), /invalid_request_object/, request);
    }
  });

  test('after keys rotate, a request object encrypted to the previous key still works; after a second rotation it is refused', async () => {
    const before = (await published()).filter((k) => k.use === 'enc');
    const oldRsa = before.find((k) => k.alg === 'RSA-OAEP-256')!;
    const waitForRotation = async (kid: string) => {
      // Running instances poll the key file (keys/key-reload.ts).
      for (let i = 0; i < 80; i += 1) {
        const keys = await published();
        if (keys.some((k) => k.kid === kid)) return keys;
        await sleep(100);
      }
      throw new Error('the rotation never reached /jwks');
    };

    const first = await rotateSigningKeys(t.dirs.keys);
    assert.equal(first.added.length, 5, 'three signing (RS256, ES256, EdDSA) and two encryption keys');
    const afterFirst = await waitForRotation(first.added[2]!);
    const encKids = afterFirst.filter((k) => k.use === 'enc').map((k) => k.kid);
    assert.ok(encKids.includes(oldRsa.kid!), 'the previous encryption key is still published');
    assert.equal(encKids.length, 4);
    const newRsa = afterFirst.find((k) => k.use === 'enc' && k.alg === 'RSA-OAEP-256')!;
    assert.notEqual(newRsa.kid, oldRsa.kid, 'the new key comes first');

    for (const key of [oldRsa, newRsa]) {
      const { claims } = await requestClaims();
      const page = await authorizeWith(await encryptedRequestObject(key, claims));
      assert.ok(page.url.startsWith(REDIRECT), `${key.kid === oldRsa.kid ? 'previous' : 'new'} key: ${page.status} ${page.body.slice(0, 300)}`);
      assert.equal(new URL(page.url).searchParams.get('state'), claims.state);
    }

    const second = await rotateSigningKeys(t.dirs.keys);
    assert.ok(second.retired.includes(oldRsa.kid!));
    await waitForRotation(second.added[2]!);
    const { claims } = await requestClaims();
    const refused = await authorizeWith(await encryptedRequestObject(oldRsa, claims));
    assert.equal(refused.status, 400, 'a key two generations old no longer decrypts');
    assert.match(refused.body, /invalid_request_object/);
  });
});
