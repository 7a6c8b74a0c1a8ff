// The FAPI 2.0 Security Profile as a client profile (`--profile fapi2`,
// docs/fapi.md): a client registered so is held to private_key_jwt with the
// profile's algorithms and the issuer as audience, PAR, DPoP-bound tokens
// and codes, PKCE, ES256 ID tokens, and refresh tokens that are not rotated
// (a retry with the same token succeeds). Clients are openid-client (the
// whole flow) and oauth4webapi (each refusal), libraries we did not write.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { ValidationError } from '../../server/errors.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, logInWith } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { authorizationServer, insecure } from '../support/dpop.ts';

const PASSWORD = 'correct horse battery';
const ada = { email: 'ada@example.test', password: PASSWORD };
const SCOPE = 'openid email offline_access basic';

type Keys = Awaited<ReturnType<typeof generateKeyPair>> & { jwk: JWK };
async function clientKeys(alg: 'ES256' | 'PS256' | 'RS256', kid: string): Promise<Keys> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { ...pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
}

/** openid-client as the FAPI 2.0 client: private_key_jwt with its key, ES256 ID tokens expected. */
function fapiClient(t: TestTollgate, clientId: string, keys: Keys) {
  return oidc.discovery(new URL(t.issuer), clientId, { id_token_signed_response_alg: 'ES256' },
    oidc.PrivateKeyJwt({ key: keys.privateKey, kid: keys.jwk.kid }), { execute: [oidc.allowInsecureRequests] });
}

async function pushAndSignIn(rp: oidc.Configuration, dpop: oidc.DPoPHandle | undefined) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
    redirect_uri: REDIRECT, scope: SCOPE, prompt: 'consent', state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, dpop ? { DPoP: dpop } : undefined);
  const page = await logInWith(new UserAgent(), url, ada);
  assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.url} ${page.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 400)}`);
  return { callback: new URL(page.url), checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
}

describe('FAPI 2.0 Security Profile (--profile fapi2)', () => {
  let t: TestTollgate;
  let bankKeys: Keys;

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.accounts.create({ email: ada.email, password: PASSWORD });
    bankKeys = await clientKeys('ES256', 'bank-1');
    await t.tollgate.clients.register({ id: 'bank', securityProfile: 'fapi2', jwks: { keys: [bankKeys.jwk] }, redirectUris: [REDIRECT], firstParty: true, scope: SCOPE });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('the registration states what the profile implies, and no secret is made', async () => {
    const { client, client_secret } = await t.tollgate.clients.register({ id: 'bank-2', securityProfile: 'fapi2', jwks: { keys: [bankKeys.jwk] }, redirectUris: [REDIRECT] });
    assert.equal(client_secret, undefined);
    assert.equal(client.security_profile, 'fapi2');
    assert.equal(client.token_endpoint_auth_method, 'private_key_jwt');
    assert.equal(client.require_pushed_authorization_requests, true);
    assert.equal(client.dpop_bound_access_tokens, true);
    assert.equal(client.id_token_signed_response_alg, 'ES256');
  });

  test('registrations and changes that contradict the profile are refused', async () => {
    const base = { securityProfile: 'fapi2' as const, redirectUris: [REDIRECT], jwks: { keys: [bankKeys.jwk] } };
    const refusals: Array<[string, Parameters<typeof t.tollgate.clients.register>[0]]> = [
      ['no keys', { id: 'f-nokeys', securityProfile: 'fapi2', redirectUris: [REDIRECT] }],
      ['a secret', { ...base, id: 'f-secret', secret: 'a-secret-of-my-own-0123456789abcdefghijkl' }],
      ['public', { ...base, id: 'f-public', public: true }],
      ['client_secret_basic', { ...base, id: 'f-basic', tokenEndpointAuthMethod: 'client_secret_basic' }],
      ['RS256 ID tokens', { ...base, id: 'f-rs256', idTokenSignedResponseAlg: 'RS256' }],
      ['only an RS256 key', { ...base, id: 'f-rskey', jwks: { keys: [(await clientKeys('RS256', 'rs-only')).jwk] } }],
    ];
    for (const [what, input] of refusals) {
      await assert.rejects(t.tollgate.clients.register(input), (err: Error) => err instanceof ValidationError || err.name === 'ZodError', what);
      await assert.rejects(t.tollgate.clients.get(input.id), /no client/, `${what}: nothing stored`);
    }
    for (const patch of [{ require_pushed_authorization_requests: false }, { dpop_bound_access_tokens: false }, { id_token_signed_response_alg: 'RS256' }]) {
      await assert.rejects(t.tollgate.clients.update('bank', patch), ValidationError, JSON.stringify(patch));
    }
    // A client with a secret cannot take the profile on: it must sign its assertions.
    await t.tollgate.clients.register({ id: 'secretive', redirectUris: [REDIRECT] });
    await assert.rejects(t.tollgate.clients.update('secretive', { security_profile: 'fapi2' }), /private_key_jwt/);
    assert.equal((await t.tollgate.clients.get('bank')).require_pushed_authorization_requests, true);
  });

  test('openid-client, end to end: PAR, sign-in, DPoP-bound tokens, ES256 ID token, userinfo, refresh without rotation', async () => {
    const rp = await fapiClient(t, 'bank', bankKeys);
    const dpopKey = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(rp, dpopKey);
    const { callback, checks } = await pushAndSignIn(rp, dpop);
    // RFC 9207: the issuer in the authorization response (openid-client checks it too).
    assert.equal(callback.searchParams.get('iss'), t.issuer);

    const tokens = await oidc.authorizationCodeGrant(rp, callback, checks, undefined, { DPoP: dpop });
    assert.equal(tokens.token_type, 'dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(dpopKey.publicKey));
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt });
    assert.equal(decodeProtectedHeader(tokens.id_token!).alg, 'ES256');
    assert.equal(tokens.claims()?.email, ada.email);

    const info = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub, { DPoP: dpop });
    assert.equal(info.email, ada.email);

    // Not rotated: the same refresh token, used twice (as a client that lost the first response would), works both times.
    const refreshToken = tokens.refresh_token!;
    const first = await oidc.refreshTokenGrant(rp, refreshToken, undefined, { DPoP: dpop });
    const again = await oidc.refreshTokenGrant(rp, refreshToken, undefined, { DPoP: dpop });
    assert.equal(again.token_type, 'dpop');
    assert.notEqual(again.access_token, first.access_token);
    assert.ok(first.refresh_token === undefined || first.refresh_token === refreshToken, 'no new refresh token');
  });

  test('a plain authorization request, without PAR, is refused', async () => {
    const url = new URL(`${t.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: 'bank', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'xyz',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }).toString();
    const page = await new UserAgent().navigate(url.href, {}, REDIRECT);
    // Sent back to the client (the redirect URI is registered and exact) with invalid_request; never a login form.
    assert.ok(page.url.startsWith(REDIRECT), `${page.status} ${page.url}`);
    assert.equal(new URL(page.url).searchParams.get('error'), 'invalid_request');
    assert.match(new URL(page.url).searchParams.get('error_description') ?? '', /pushed/i);
    assert.doesNotMatch(page.body, /name="password"/);
  });

  test('tokens need a DPoP proof, and a code bound at PAR to one key cannot be redeemed with another', async () => {
    const rp = await fapiClient(t, 'bank', bankKeys);
    const unbound = await pushAndSignIn(rp, undefined);
    await assert.rejects(oidc.authorizationCodeGrant(rp, unbound.callback, unbound.checks), (err: { error?: string }) => err.error === 'invalid_grant' || err.error === 'invalid_dpop_proof');
    // The refusal was the missing proof: the same code, with one, is redeemed.
    assert.equal((await oidc.authorizationCodeGrant(rp, unbound.callback, unbound.checks, undefined, { DPoP: oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256')) })).token_type, 'dpop');

    // RFC 9449 §10: the PAR request's proof binds the code to its key.
    const rightKey = await oidc.randomDPoPKeyPair('ES256');
    const bound = await pushAndSignIn(rp, oidc.getDPoPHandle(rp, rightKey));
    const other = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    await assert.rejects(oidc.authorizationCodeGrant(rp, bound.callback, bound.checks, undefined, { DPoP: other }), (err: { error?: string }) => err.error === 'invalid_grant' || err.error === 'invalid_dpop_proof');
    // The refusal was the key's: the same code, with the key the PAR request proved, is redeemed.
    const tokens = await oidc.authorizationCodeGrant(rp, bound.callback, bound.checks, undefined, { DPoP: oidc.getDPoPHandle(rp, rightKey) });
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt: await calculateJwkThumbprint(await exportJWK(rightKey.publicKey)) });
  });

  test('client assertions: PS256 and ES256 are accepted, RS256 and an audience other than the issuer are refused', async () => {
    const rs = await clientKeys('RS256', 'rs');
    const ps = await clientKeys('PS256', 'ps');
    await t.tollgate.clients.register({ id: 'bank-rsa', securityProfile: 'fapi2', jwks: { keys: [rs.jwk, ps.jwk] }, redirectUris: [REDIRECT], scope: 'openid' });
    // The same RS256 key is fine for a client that does not follow the profile.
    await t.tollgate.clients.register({ id: 'plain-jwt', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [rs.jwk] }, redirectUris: [REDIRECT], scope: 'openid' });
    const as = await authorizationServer(t.issuer);
    const push = (clientId: string, auth: oauth.ClientAuth) => oauth.pushedAuthorizationRequest(as, { client_id: clientId }, auth, {
      response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }, insecure);

    assert.equal((await push('bank-rsa', oauth.PrivateKeyJwt({ key: ps.privateKey, kid: 'ps' }))).status, 201);
    assert.equal((await push('bank', oauth.PrivateKeyJwt({ key: bankKeys.privateKey, kid: 'bank-1' }))).status, 201);
    const rsRefused = await push('bank-rsa', oauth.PrivateKeyJwt({ key: rs.privateKey, kid: 'rs' }));
    assert.equal(rsRefused.status, 401);
    assert.equal(((await rsRefused.json()) as { error: string }).error, 'invalid_client');
    assert.equal((await push('plain-jwt', oauth.PrivateKeyJwt({ key: rs.privateKey, kid: 'rs' }))).status, 201);

    // The library's own FAPI 2.0 rule, kept beside ours: the audience is the issuer, not the endpoint.
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'bank-1' }).setIssuer('bank').setSubject('bank')
      .setAudience(`${t.issuer}/request`).setIssuedAt(now).setExpirationTime(now + 60).sign(bankKeys.privateKey);
    const res = await fetch(`${t.issuer}/request`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: 'bank', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
        response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  test('discovery advertises what a FAPI 2.0 client needs', async () => {
    const discovery = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, string[] | string | boolean>;
    assert.equal(discovery.authorization_response_iss_parameter_supported, true);
    assert.ok((discovery.token_endpoint_auth_methods_supported as string[]).includes('private_key_jwt'));
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.ok((discovery.id_token_signing_alg_values_supported as string[]).includes('ES256'));
    assert.ok((discovery.id_token_signing_alg_values_supported as string[]).includes('EdDSA'));
    assert.ok((discovery.dpop_signing_alg_values_supported as string[]).includes('ES256'));
    assert.ok((discovery.token_endpoint_auth_signing_alg_values_supported as string[]).includes('PS256'));
    assert.deepEqual(discovery.response_types_supported, ['code']);
  });
});
