// The admin API (/admin/v1) end to end: real HTTP against one embedded-
// database Tollgate, real access tokens (client_credentials for a machine,
// the authorization code flow for people), and every change checked where it
// takes effect: the token endpoint, the authorization endpoint, the login form.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, authorizationRequest, logInWith, relyingParty, signIn, adminResource } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { adminCalls, basicAuth } from '../support/admin.ts';
import { openApiPath } from '../../server/routes/admin/openapi.ts';
import { digestClientSecret } from '../../server/services/client-secrets.ts';

const PASSWORD = 'correct horse battery';
const USER_SCOPE = 'openid offline_access basic';

type Json = Record<string, any>;
type SignedIn = Awaited<ReturnType<typeof signIn>>;

describe('admin API (/admin/v1)', () => {
  let t: TestTollgate;
  /** A machine's token with the admin scope (client_credentials). */
  let admin: string;
  /** The same machine's token with `basic` only. */
  let basicOnly: string;
  /** A confidential first-party client people sign in to, for sessions, grants and refresh tokens. */
  let webSecret: string;

  const { tokenRequest, machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });

  /** Registers a client through the API (as the admin machine); returns its view and secret. */
  const registerClient = async (registration: Json) => {
    const res = await api('POST', '/clients', { token: admin, json: registration });
    assert.equal(res.status, 201, res.text);
    return { client: res.body.client as Json, secret: res.body.client_secret as string | undefined };
  };

  /** Creates a user through the API; returns its id. */
  const createUser = async (email: string, extra: Json = {}) => {
    const res = await api('POST', '/users', { token: admin, json: { email, password: PASSWORD, ...extra } });
    assert.equal(res.status, 201, res.text);
    return res.body.id as string;
  };

  const signInToWeb = (email: string) => signIn(t, { clientId: 'web', secret: webSecret, email, password: PASSWORD, scope: USER_SCOPE });

  /** The hosted login form with these credentials, in a fresh browser: did the client get a code? */
  const hostedLogin = async (email: string, password: string) => {
    const { url } = await authorizationRequest(await relyingParty(t, 'web', webSecret), { scope: 'openid' });
    const page = await logInWith(new UserAgent(), url, { email, password });
    // Status 0: the agent stopped at the client's redirect URI.
    return { signedIn: page.url.startsWith(REDIRECT) && new URL(page.url).searchParams.has('code'), status: page.status };
  };

  const assertRefreshRefused = async (session: SignedIn) => {
    await assert.rejects(oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
  };

  const sessionsOf = async (userId: string) => {
    const res = await api('GET', `/users/${userId}/sessions`, { token: admin });
    assert.equal(res.status, 200, res.text);
    return res.body as { sessions: Array<{ uid: string; client_ids: string[] }>; grants: Array<{ id: string; client_id: string; scopes: string[] }> };
  };

  /** An access token signed with Tollgate's own key: `template`'s claims with `changes` applied. */
  const resigned = async (template: string, changes: Json) => {
    const { kid, alg } = decodeProtectedHeader(template);
    const jwk = t.tollgate.keys.privateJwks.keys.find((k) => k.kid === kid)!;
    return new SignJWT({ ...decodeJwt(template), ...changes })
      .setProtectedHeader({ alg: alg!, kid: kid!, typ: 'at+jwt' })
      .sign(await importJWK(jwk, alg));
  };

  before(async () => {
    t = await startTestTollgate();
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    basicOnly = (await machineToken('ops', ops.client_secret!, 'basic')).body.access_token!;
    webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: USER_SCOPE, firstParty: true })).client_secret!;
    await t.tollgate.clients.register({ id: 'console', public: true, redirectUris: [REDIRECT], scope: 'openid admin', firstParty: true });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  describe('authentication and routing', () => {
    test('no token: 401 invalid_token, and the challenge names the realm only', async () => {
      const res = await api('GET', '/clients');
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
      // RFC 6750 §3.1: no error attribute when the request carried no credentials at all; RFC 9449 §7.1: DPoP offered too.
      assert.match(res.headers.get('www-authenticate')!, new RegExp(`^Bearer realm="${t.issuer}", DPoP realm="${t.issuer}", algs="[^"]+"$`));
    });

    test('a garbage token: 401 with error="invalid_token" in the challenge', async () => {
      for (const garbage of ['not-a-jwt', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln']) {
        const res = await api('GET', '/clients', { token: garbage });
        assert.equal(res.status, 401, garbage);
        assert.equal(res.body.error, 'invalid_token');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+", error="invalid_token"/);
      }
    });

    test('an expired token: 401 with error="invalid_token" in the challenge', async () => {
      const now = Math.floor(Date.now() / 1000);
      // The same claims with a fresh lifetime pass: only the expiry differs between the two.
      const fresh = await resigned(admin, { iat: now, exp: now + 300, jti: randomUUID() });
      assert.equal((await api('GET', '/clients', { token: fresh })).status, 200);

      const expired = await resigned(admin, { iat: now - 3600, exp: now - 600, jti: randomUUID() });
      const res = await api('GET', '/clients', { token: expired });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
      assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token", error_description="access token expired"/);
    });

    test('a token without the admin scope: 403 insufficient_scope, the challenge asks for scope="admin"', async () => {
      const res = await api('GET', '/clients', { token: basicOnly });
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /error="insufficient_scope"/);
      assert.match(challenge, /scope="admin"/);
    });

    test('an unknown path: 401 without a token (the route table is not public), 404 JSON with the admin token', async () => {
      const stranger = await api('GET', '/no-such-thing');
      assert.equal(stranger.status, 401);
      assert.equal(stranger.body.error, 'invalid_token');

      const known = await api('GET', '/no-such-thing', { token: admin });
      assert.equal(known.status, 404);
      assert.match(known.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(known.body, { error: 'not_found', error_description: 'no such admin API route' });
    });

    test('a method the path does not serve: 405 with an Allow header', async () => {
      const res = await api('PUT', '/clients', { token: admin, json: {} });
      assert.equal(res.status, 405);
      const allowed = (res.headers.get('allow') ?? '').split(/, */);
      assert.ok(allowed.includes('GET') && allowed.includes('POST') && !allowed.includes('PUT'), res.headers.get('allow') ?? '(no Allow)');
      assert.equal(res.body.error, 'method_not_allowed');
    });

    test('the OpenAPI document needs no token', async () => {
      const res = await fetch(`${t.issuer}/admin/v1/openapi.json`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(((await res.json()) as Json).openapi, '3.1.0');
    });
  });

  describe('clients', () => {
    test('register: 201 with a Location header and the generated secret, once', async () => {
      const res = await api('POST', '/clients', {
        token: admin,
        json: { client_id: 'reports', client_name: 'Reports', grant_types: ['client_credentials'], scope: 'basic', token_endpoint_auth_method: 'client_secret_basic' },
      });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.get('location'), '/admin/v1/clients/reports');
      assert.equal(typeof res.body.client_secret, 'string');
      assert.ok(res.body.client_secret.length >= 32);
      assert.equal(res.text.split(res.body.client_secret).length - 1, 1, 'the secret appears once in the answer');
      assert.equal(res.body.client.client_id, 'reports');
      assert.equal(res.body.client.client_name, 'Reports');
      assert.deepEqual(res.body.client.grant_types, ['client_credentials']);
      assert.equal(res.body.client.token_endpoint_auth_method, 'client_secret_basic');
      assert.equal(res.body.client.client_secret, undefined);
    });

    test('reading a client never shows its secret or a digest of it', async () => {
      const { secret } = await registerClient({ client_id: 'ledger', grant_types: ['client_credentials'], scope: 'basic' });
      for (const path of ['/clients/ledger', '/clients']) {
        const res = await api('GET', path, { token: admin });
        assert.equal(res.status, 200);
        assert.ok(!res.text.includes(secret!), `${path} shows the secret`);
        assert.ok(!res.text.includes(digestClientSecret(secret!)), `${path} shows the stored digest`);
        assert.ok(!/digest/i.test(res.text), `${path} mentions a digest: ${res.text}`);
        assert.ok(!res.text.includes('"client_secret"'), `${path} has a client_secret member`);
      }
    });

    test('the generated secret works at the token endpoint', async () => {
      const { secret } = await registerClient({ client_id: 'billing', grant_types: ['client_credentials'], scope: 'basic' });
      const res = await machineToken('billing', secret!, 'basic');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(res.body.access_token);
    });

    test('rotating the secret: the new one works, the old one is 401 invalid_client at once', async () => {
      const { secret: old } = await registerClient({ client_id: 'rotor', grant_types: ['client_credentials'], scope: 'basic' });
      assert.equal((await machineToken('rotor', old!, 'basic')).status, 200);

      const rotated = await api('POST', '/clients/rotor/secret', { token: admin });
      assert.equal(rotated.status, 200, rotated.text);
      const fresh = rotated.body.client_secret as string;
      assert.ok(fresh && fresh !== old);
      assert.equal(rotated.body.client.client_id, 'rotor');

      assert.equal((await machineToken('rotor', fresh, 'basic')).status, 200);
      const refused = await machineToken('rotor', old!, 'basic');
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error, 'invalid_client');
    });

    test("rotating a public client's secret: 400", async () => {
      await registerClient({ client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT] });
      const res = await api('POST', '/clients/spa/secret', { token: admin });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(res.body.client_secret, undefined);
    });

    test('changing redirect_uris: the authorization endpoint accepts the new URI and refuses the old one', async () => {
      const moved = 'https://app.example.test/moved-callback';
      const { secret } = await registerClient({ client_id: 'photos', redirect_uris: [REDIRECT], scope: 'openid' });
      const config = await relyingParty(t, 'photos', secret);
      const authorize = async (redirectUri: string) => {
        const { url } = await authorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid' });
        const res = await fetch(url, { redirect: 'manual' });
        return { status: res.status, location: res.headers.get('location') ?? '', body: await res.text() };
      };
      const toInteraction = (r: { status: number; location: string }) => r.status === 303 && r.location.includes('/interaction/');

      assert.ok(toInteraction(await authorize(REDIRECT)), 'the registered URI is accepted before the change');
      const patched = await api('PATCH', '/clients/photos', { token: admin, json: { redirect_uris: [moved] } });
      assert.equal(patched.status, 200, patched.text);
      assert.deepEqual(patched.body.redirect_uris, [moved]);

      assert.ok(toInteraction(await authorize(moved)), 'the new URI is accepted');
      const old = await authorize(REDIRECT);
      // A redirect URI that is not registered is never redirected to (RFC 6749 §4.1.2.1): an error page instead.
      assert.equal(old.status, 400);
      assert.equal(old.location, '');
      assert.match(old.body, /redirect_uri/);
    });

    test('PATCH with an unknown field: 400, and nothing changes', async () => {
      await registerClient({ client_id: 'strict', grant_types: ['client_credentials'], scope: 'basic' });
      const res = await api('PATCH', '/clients/strict', { token: admin, json: { scope: 'openid', colour: 'blue' } });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.ok('colour' in res.body.fields || '(body)' in res.body.fields, JSON.stringify(res.body));
      assert.equal((await api('GET', '/clients/strict', { token: admin })).body.scope, 'basic');
    });

    test('bad values: 400 with `fields` naming the field', async () => {
      await registerClient({ client_id: 'target', redirect_uris: [REDIRECT] });
      const cases: Array<[string, string, Json, string]> = [
        ['POST', '/clients', { client_id: 'bad1', grant_types: ['implicit'] }, 'grant_types.0'],
        ['POST', '/clients', { client_id: 'bad2', redirect_uris: ['https://app.example.test/cb#fragment'] }, 'redirect_uris.0'],
        ['POST', '/clients', { client_id: 'not valid!' }, 'client_id'],
        ['PATCH', '/clients/target', { grant_types: ['authorization_code', 'password'] }, 'grant_types.1'],
        ['PATCH', '/clients/target', { redirect_uris: ['https://app.example.test/cb#fragment'] }, 'redirect_uris.0'],
        ['PATCH', '/clients/target', { access_token_lifetime: 5 }, 'access_token_lifetime'],
      ];
      for (const [method, path, json, field] of cases) {
        const res = await api(method, path, { token: admin, json });
        assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(json)}: ${res.text}`);
        assert.equal(res.body.error, 'invalid_request');
        assert.equal(typeof res.body.fields?.[field], 'string', `${method} ${path}: fields should name ${field}: ${res.text}`);
      }
      const ids = ((await api('GET', '/clients', { token: admin })).body.items as Json[]).map((c) => c.client_id);
      assert.ok(!ids.includes('bad1') && !ids.includes('bad2'), 'nothing refused was stored');
      assert.deepEqual((await api('GET', '/clients/target', { token: admin })).body.redirect_uris, [REDIRECT], 'nothing refused was changed');
    });

    test('a client_id that is taken: 409 conflict', async () => {
      await registerClient({ client_id: 'twice', grant_types: ['client_credentials'], scope: 'basic' });
      const res = await api('POST', '/clients', { token: admin, json: { client_id: 'twice', grant_types: ['client_credentials'], scope: 'basic' } });
      assert.equal(res.status, 409);
      assert.equal(res.body.error, 'conflict');
      assert.equal(res.body.client_secret, undefined);
    });

    test('an unknown client id: 404 for GET, PATCH, DELETE and secret rotation', async () => {
      const calls: Array<[string, string, Json?]> = [
        ['GET', '/clients/ghost'], ['PATCH', '/clients/ghost', { scope: 'basic' }], ['DELETE', '/clients/ghost'], ['POST', '/clients/ghost/secret'],
      ];
      for (const [method, path, json] of calls) {
        const res = await api(method, path, { token: admin, ...(json ? { json } : {}) });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.body.error, 'not_found');
        assert.match(res.body.error_description, /ghost/);
      }
    });

    test('delete: 204, then the client is invalid_client at /token and 404 to read', async () => {
      const { secret } = await registerClient({ client_id: 'doomed', grant_types: ['client_credentials'], scope: 'basic' });
      assert.equal((await machineToken('doomed', secret!, 'basic')).status, 200);

      const res = await api('DELETE', '/clients/doomed', { token: admin });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      const refused = await machineToken('doomed', secret!, 'basic');
      assert.equal(refused.status, 401);
      assert.equal(refused.body.error, 'invalid_client');
      assert.equal((await api('GET', '/clients/doomed', { token: admin })).status, 404);
    });

    test('a body that is not JSON: 415 for text/plain, 400 for malformed JSON', async () => {
      const plain = await api('POST', '/clients', { token: admin, type: 'text/plain', body: '{"client_id":"plain"}' });
      assert.equal(plain.status, 415);
      assert.equal(plain.body.error, 'unsupported_media_type');

      const malformed = await api('POST', '/clients', { token: admin, type: 'application/json', body: '{"client_id": "half' });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_request');
      assert.equal((await api('GET', '/clients/plain', { token: admin })).status, 404);
    });
  });

  describe('users', () => {
    test('create: 201 with a Location header, and no password or hash anywhere in the answer', async () => {
      const res = await api('POST', '/users', { token: admin, json: { email: 'Grace@Example.test', password: PASSWORD, name: 'Grace', organisation: 'acme' } });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.get('location'), `/admin/v1/users/${res.body.id}`);
      assert.equal(res.body.email, 'grace@example.test');
      assert.equal(res.body.name, 'Grace');
      assert.equal(res.body.organisation, 'acme');
      assert.deepEqual(res.body.roles, []);
      assert.equal(res.body.disabled, false);
      assert.ok(!res.text.includes(PASSWORD), 'the password is not echoed');
      // has_password says whether there is one (an account from a social sign-in may have none); nothing else names one.
      assert.ok(!/argon2|(?<!has_)password|hash/i.test(res.text), res.text);
    });

    test('an e-mail that is taken (in any case): 409 conflict', async () => {
      await createUser('taken@example.test');
      const res = await api('POST', '/users', { token: admin, json: { email: 'TAKEN@example.test', password: PASSWORD } });
      assert.equal(res.status, 409);
      assert.equal(res.body.error, 'conflict');
    });

    test('a short password: 400 with fields.password', async () => {
      const res = await api('POST', '/users', { token: admin, json: { email: 'short@example.test', password: 'short' } });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(typeof res.body.fields.password, 'string');
      assert.deepEqual((await api('GET', '/users?email=short@example.test', { token: admin })).body.items, []);
    });

    test('the list filters by e-mail; a limit that is not a number is 400', async () => {
      const id = await createUser('filtered@example.test');
      await createUser('unfiltered@example.test');
      const res = await api('GET', '/users?email=Filtered@Example.test', { token: admin });
      assert.equal(res.status, 200);
      assert.deepEqual((res.body.items as Json[]).map((u) => u.id), [id]);

      const bad = await api('GET', '/users?limit=abc', { token: admin });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_request');
      assert.equal(typeof bad.body.fields.limit, 'string');
    });

    test('PATCH roles, organisation and name: 200 with the new values', async () => {
      const id = await createUser('patchy@example.test', { name: 'Patchy' });
      const res = await api('PATCH', `/users/${id}`, { token: admin, json: { roles: ['admin'], organisation: 'globex', name: 'Patricia' } });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual([res.body.roles, res.body.organisation, res.body.name], [['admin'], 'globex', 'Patricia']);
      const read = await api('GET', `/users/${id}`, { token: admin });
      assert.deepEqual([read.body.roles, read.body.organisation, read.body.name], [['admin'], 'globex', 'Patricia']);

      const cleared = await api('PATCH', `/users/${id}`, { token: admin, json: { roles: [], organisation: null, name: null } });
      assert.deepEqual([cleared.body.roles, cleared.body.organisation, cleared.body.name], [[], null, null]);
    });

    test('disabling: the hosted login refuses them and their refresh token is invalid_grant; enabling lets them sign in again', async () => {
      const id = await createUser('hal@example.test');
      const session = await signInToWeb('hal@example.test');

      const disabled = await api('PATCH', `/users/${id}`, { token: admin, json: { disabled: true } });
      assert.equal(disabled.status, 200, disabled.text);
      assert.equal(disabled.body.disabled, true);
      assert.deepEqual(await hostedLogin('hal@example.test', PASSWORD), { signedIn: false, status: 401 });
      await assertRefreshRefused(session);

      const enabled = await api('PATCH', `/users/${id}`, { token: admin, json: { disabled: false } });
      assert.equal(enabled.body.disabled, false);
      assert.deepEqual(await hostedLogin('hal@example.test', PASSWORD), { signedIn: true, status: 0 });
    });

    test('a new password: 204; it signs in and the old one does not', async () => {
      const id = await createUser('ivy@example.test');
      const newPassword = 'a brand new passphrase';
      const res = await api('POST', `/users/${id}/password`, { token: admin, json: { password: newPassword } });
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.deepEqual(await hostedLogin('ivy@example.test', PASSWORD), { signedIn: false, status: 401 });
      assert.deepEqual(await hostedLogin('ivy@example.test', newPassword), { signedIn: true, status: 0 });
    });
  });

  describe('sessions and grants', () => {
    test("a user's sessions and grants are listed after they sign in with offline_access", async () => {
      const id = await createUser('june@example.test');
      await signInToWeb('june@example.test');
      const { sessions, grants } = await sessionsOf(id);
      assert.equal(sessions.length, 1);
      assert.equal(typeof sessions[0]!.uid, 'string');
      assert.ok(sessions[0]!.uid.length > 0);
      assert.deepEqual(sessions[0]!.client_ids, ['web']);
      assert.equal(grants.length, 1);
      assert.equal(grants[0]!.client_id, 'web');
      assert.deepEqual([...grants[0]!.scopes].sort(), ['basic', 'offline_access', 'openid']);
    });

    test('revoking a grant: 204, and its refresh token is refused', async () => {
      const id = await createUser('kai@example.test');
      const session = await signInToWeb('kai@example.test');
      const [grant] = (await sessionsOf(id)).grants;
      const res = await api('DELETE', `/users/${id}/grants/${grant!.id}`, { token: admin });
      assert.equal(res.status, 204);
      await assertRefreshRefused(session);
      assert.deepEqual((await sessionsOf(id)).grants, []);
    });

    test("ending one session: 204, its refresh token is refused and another session's is not", async () => {
      const id = await createUser('lee@example.test');
      const laptop = await signInToWeb('lee@example.test');
      const [laptopSession] = (await sessionsOf(id)).sessions;
      const phone = await signInToWeb('lee@example.test');

      const res = await api('DELETE', `/users/${id}/sessions/${laptopSession!.uid}`, { token: admin });
      assert.equal(res.status, 204);
      await assertRefreshRefused(laptop);
      assert.ok((await oidc.refreshTokenGrant(phone.config, phone.tokens.refresh_token!)).access_token, 'the other session is untouched');
      assert.deepEqual((await sessionsOf(id)).sessions.map((s) => s.uid).includes(laptopSession!.uid), false);
    });

    test('forced logout: 200 with what ended, and the refresh token is refused', async () => {
      const id = await createUser('max@example.test');
      const session = await signInToWeb('max@example.test');
      assert.equal((await sessionsOf(id)).grants.length, 1);

      const res = await api('POST', `/users/${id}/logout`, { token: admin });
      assert.equal(res.status, 200, res.text);
      await assertRefreshRefused(session);
      assert.deepEqual(await sessionsOf(id), { sessions: [], grants: [] });
      // One sign-in ended: its session, the grant it made, the one refresh token issued from it.
      assert.deepEqual({ ...res.body, grants: undefined }, { sessions: 1, refresh_tokens: 1, backchannel_notified: 0, backchannel_failed: 0, grants: undefined });
      // Grants ended with their session count too (they once did not: endEverything counted only grants left over).
      assert.equal(res.body.grants, 1, `one grant ended, but the answer reports grants: ${res.body.grants}`);
    });

    test('forced logout counts the refresh tokens that still worked, not those already rotated away', async () => {
      const id = await createUser('nia@example.test');
      const session = await signInToWeb('nia@example.test');
      const rotated = await oidc.refreshTokenGrant(session.config, session.tokens.refresh_token!);
      const live = await oidc.refreshTokenGrant(session.config, rotated.refresh_token!);

      const res = await api('POST', `/users/${id}/logout`, { token: admin });
      assert.equal(res.status, 200, res.text);
      await assert.rejects(oidc.refreshTokenGrant(session.config, live.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      // Only refresh tokens that still worked count (rotated-away ones once did).
      assert.equal(res.body.refresh_tokens, 1, `one refresh token still worked, but the answer reports refresh_tokens: ${res.body.refresh_tokens}`);
    });

    test("an unknown session uid or grant id, or another user's: 404, and nothing ends", async () => {
      const id = await createUser('ned@example.test');
      const otherId = await createUser('olga@example.test');
      const other = await signInToWeb('olga@example.test');
      const { sessions: [otherSession], grants: [otherGrant] } = await sessionsOf(otherId);
      const paths = [
        `/users/${id}/sessions/no-such-session`, `/users/${id}/grants/no-such-grant`,
        `/users/${id}/sessions/${otherSession!.uid}`, `/users/${id}/grants/${otherGrant!.id}`,
      ];
      for (const path of paths) {
        const res = await api('DELETE', path, { token: admin });
        assert.equal(res.status, 404, path);
        assert.equal(res.body.error, 'not_found');
      }
      assert.ok((await oidc.refreshTokenGrant(other.config, other.tokens.refresh_token!)).access_token, "the other user's sign-in is untouched");
    });
  });

  describe('administrators who are people', () => {
    /** An access token from the code flow (console client, scope `openid admin`). */
    const personalToken = async (email: string) => (await signIn(t, { clientId: 'console', email, password: PASSWORD, scope: 'openid admin', resource: adminResource(t) })).tokens.access_token;
    let boss: string;
    let acmeWorker: string;
    let globexWorker: string;

    before(async () => {
      await t.tollgate.accounts.create({ email: 'boss@acme.test', password: PASSWORD, roles: ['admin'], organisation: 'acme' });
      acmeWorker = (await t.tollgate.accounts.create({ email: 'worker@acme.test', password: PASSWORD, organisation: 'acme' })).id;
      globexWorker = (await t.tollgate.accounts.create({ email: 'worker@globex.test', password: PASSWORD, organisation: 'globex' })).id;
      boss = await personalToken('boss@acme.test');
    });

    test('a user with the admin role, through the code flow, may list users', async () => {
      await t.tollgate.accounts.create({ email: 'root@example.test', password: PASSWORD, roles: ['admin'] });
      const token = await personalToken('root@example.test');
      assert.ok(String(decodeJwt(token).scope).split(' ').includes('admin'));
      const res = await api('GET', '/users', { token });
      assert.equal(res.status, 200, res.text);
      const emails = (res.body.items as Json[]).map((u) => u.email);
      assert.ok(emails.includes('worker@acme.test') && emails.includes('worker@globex.test'), 'every organisation');
    });

    test("an organisation's administrator lists that organisation's users only", async () => {
      const res = await api('GET', '/users', { token: boss });
      assert.equal(res.status, 200, res.text);
      const items = res.body.items as Json[];
      assert.ok(items.some((u) => u.id === acmeWorker));
      assert.ok(items.every((u) => u.organisation === 'acme'), JSON.stringify(items));
      assert.deepEqual((await api('GET', '/users?organisation=globex', { token: boss })).body.items, []);
    });

    test("an organisation's administrator gets 404 for a user of another organisation", async () => {
      assert.equal((await api('GET', `/users/${acmeWorker}`, { token: boss })).status, 200);
      for (const [method, path] of [['GET', `/users/${globexWorker}`], ['GET', `/users/${globexWorker}/sessions`], ['POST', `/users/${globexWorker}/logout`]] as const) {
        const res = await api(method, path, { token: boss });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.body.error, 'not_found');
      }
      const patch = await api('PATCH', `/users/${globexWorker}`, { token: boss, json: { disabled: true } });
      assert.equal(patch.status, 404);
      assert.equal((await t.tollgate.accounts.get(globexWorker)).disabled, false);
    });

    test("an organisation's administrator gets 403 insufficient_scope for clients and the audit trail", async () => {
      for (const path of ['/clients', '/audit-events']) {
        const res = await api('GET', path, { token: boss });
        assert.equal(res.status, 403, path);
        assert.equal(res.body.error, 'insufficient_scope');
        assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      }
    });

    test("an organisation's administrator may not vouch for an address (email_verified): 403, unchanged", async () => {
      const res = await api('PATCH', `/users/${acmeWorker}`, { token: boss, json: { email_verified: true } });
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'insufficient_scope');
      assert.equal((await t.tollgate.accounts.get(acmeWorker)).email_verified, false);
      // Other changes to their own users still go through.
      assert.equal((await api('PATCH', `/users/${acmeWorker}`, { token: boss, json: { name: 'Worker' } })).status, 200);
    });

    test("an organisation's administrator creates users in its own organisation, never another", async () => {
      const created = await api('POST', '/users', { token: boss, json: { email: 'hire@acme.test', password: PASSWORD } });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.organisation, 'acme');

      const elsewhere = await api('POST', '/users', { token: boss, json: { email: 'spy@acme.test', password: PASSWORD, organisation: 'other' } });
      assert.equal(elsewhere.status, 400);
      assert.equal(typeof elsewhere.body.fields.organisation, 'string');
      assert.equal(await t.tollgate.accounts.idForEmail('spy@acme.test'), undefined);
    });

    // The organisation in the token is what was true at issuance; the API goes by the account as it is now.
    test('moving an administrator into an organisation narrows their existing token at once', async () => {
      const id = (await t.tollgate.accounts.create({ email: 'mover@example.test', password: PASSWORD, roles: ['admin'] })).id;
      const token = await personalToken('mover@example.test');
      assert.equal((await api('GET', '/clients', { token })).status, 200);

      await t.tollgate.accounts.update(id, { organisation: 'acme' });
      const clients = await api('GET', '/clients', { token });
      assert.equal(clients.status, 403, `an administrator of acme still lists every client with a token issued before the move: ${clients.status}`);
      const others = (await api('GET', `/users/${globexWorker}`, { token })).status;
      assert.equal(others, 404, `an administrator of acme still reads a globex user: ${others}`);
    });
  });

  describe('the OpenAPI document', () => {
    let served: Json;
    const operations = (document: Json) => new Set(Object.entries(document.paths as Record<string, Json>)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)));

    before(async () => {
      served = (await (await fetch(`${t.issuer}/admin/v1/openapi.json`)).json()) as Json;
    });

    test('is OpenAPI 3.1.0, the document Tollgate built, with this issuer as its server', () => {
      assert.equal(served.openapi, '3.1.0');
      assert.deepEqual(served, JSON.parse(JSON.stringify(t.tollgate.admin.document)));
      assert.deepEqual(served.servers, [{ url: `${t.issuer}/admin/v1` }]);
    });

    test('lists exactly the operations the router serves', () => {
      const routed = new Set<string>();
      for (const layer of t.tollgate.admin.router.stack) {
        const path = openApiPath(String(layer.path).replace(/^\/admin\/v1/, ''));
        for (const method of layer.methods.filter((m) => m !== 'HEAD')) routed.add(`${method} ${path}`);
      }
      assert.deepEqual([...operations(served)].sort(), [...routed].sort());
      assert.ok(routed.size >= 16, `only ${routed.size} operations`);
    });

    test('every documented operation is routed: none answers 404 "no such admin API route" or 405', async () => {
      const ids: Record<string, string> = { '/clients/{id}': 'probe-missing', '/users/{id}': randomUUID(), '{uid}': 'probe-missing', '{grantId}': 'probe-missing', '{provider}': 'probe-missing' };
      for (const operation of operations(served)) {
        const [method, template] = operation.split(' ') as [string, string];
        const path = template
          .replace(/^\/clients\/\{id\}/, `/clients/${ids['/clients/{id}']}`)
          .replace(/^\/users\/\{id\}/, `/users/${ids['/users/{id}']}`)
          .replace(/^\/providers\/\{id\}/, '/providers/probe-missing')
          .replace(/^\/apis\/\{id\}/, `/apis/${randomUUID()}`)
          .replace('{uid}', ids['{uid}']!)
          .replace('{grantId}', ids['{grantId}']!)
          .replace('{provider}', ids['{provider}']!);
        assert.ok(!path.includes('{'), `no id for ${template}`);
        // Bodies are empty objects and ids unknown: validation or lookups fail, nothing is changed.
        const res = await api(method, path, { token: admin, ...(['POST', 'PATCH'].includes(method) ? { json: {} } : {}) });
        assert.notEqual(res.status, 405, operation);
        assert.ok(!(res.status === 404 && res.body?.error_description === 'no such admin API route'), `${operation} is documented but not routed`);
        assert.ok(res.status < 500, `${operation}: ${res.status} ${res.text}`);
      }
    });

    test('every operation lists 401 and 403 and needs the oauth2 admin scope', () => {
      const scheme = served.components.securitySchemes.tollgate;
      assert.equal(scheme.type, 'oauth2');
      assert.ok(scheme.flows.clientCredentials.scopes.admin !== undefined);
      assert.equal(scheme.flows.clientCredentials.tokenUrl, `${t.issuer}/token`);
      assert.deepEqual(served.security, [{ tollgate: ['admin'] }]);
      for (const [path, ops] of Object.entries(served.paths as Record<string, Record<string, Json>>)) {
        for (const [method, op] of Object.entries(ops)) {
          assert.ok(op.responses['401'], `${method} ${path} has no 401`);
          assert.ok(op.responses['403'], `${method} ${path} has no 403`);
          // An operation may only narrow the document's security, never drop it.
          if (op.security !== undefined) assert.deepEqual(op.security, [{ tollgate: ['admin'] }], `${method} ${path}`);
        }
      }
    });
  });
});
