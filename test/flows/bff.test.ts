// The backend-for-frontend as an app gets it: imported as `tollgate/bff`
// (the built package export), served by node:http on its own origin in
// front of a real Tollgate, driven by a cookie-keeping HTTP user agent that
// signs in through the hosted pages. What is checked is what a browser and
// its scripts would observe: redirects, cookies and JSON bodies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { hkdfSync, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, jwtDecrypt, SignJWT, type JWK, type JWTPayload } from 'jose';
import Koa from 'koa';
import * as oidc from 'openid-client';
import { BFF_HEADER, bffMiddleware, createBff, createMemoryStore, createRedisStore, endedSessionKey, type Bff, type BffOptions } from 'tollgate/bff';
import { createAccessTokenVerifier, createRequestAuthenticator } from 'tollgate/resource-server';
import { targetUrl } from '../../server/bff/api-proxy.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { ROOT } from '../support/processes.ts';
import { requireRedis, startRedis } from '../support/redis.ts';
import { adminCalls } from '../support/admin.ts';
import { createClient } from 'redis';

const PASSWORD = 'correct horse battery';
const SECRET = 'bff-client-secret-0123456789abcdefghijkl';
const COOKIE_SECRET = randomBytes(32).toString('base64url');
const ADA = 'ada@example.test';

/** The cookie names on http://localhost (no `__Secure-` prefix there). */
const NAMES = { session: 'tollgate-bff-session', refresh: 'tollgate-bff-refresh', access: 'tollgate-bff-access', login: 'tollgate-bff-login' };

/** Opens a sealed cookie as the BFF does (HKDF of the secret, dir + A256GCM): how the test finds the refresh token it must never see elsewhere. */
async function unseal(value: string, secret = COOKIE_SECRET) {
  const key = new Uint8Array(hkdfSync('sha256', secret, 'tollgate/bff', 'cookie encryption A256GCM', 32));
  return (await jwtDecrypt(value, key)).payload;
}

interface Seen { url: string; setCookies: string[]; body: string }

/** The app: the BFF (swappable per test, same origin and cookies) in front of a page, and an API behind it. */
interface App {
  origin: string;
  bff: Bff;
  configure(options?: Partial<BffOptions>): void;
  /** Every response the user agents received, for leak checks. */
  seen: Seen[];
  /** Requests the API behind the proxy received. */
  apiCalls: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string; sub?: string; scheme?: string; jkt?: string; tokenError?: string }>;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('tollgate/bff', () => {
  let t: TestTollgate;
  let app: App;
  let apiServer: Server;
  let adaId: string;
  let jwk: JWK;
  let adminToken: string;
  /** The API behind the proxy, http://127.0.0.1:port. */
  let apiOrigin = '';

  before(async () => {
    // Access tokens of 60 s (the shortest Tollgate allows): with refreshWithin 60, every token request refreshes.
    // ALLOW_PRIVATE_NETWORK_FETCH: Tollgate may POST logout tokens to the BFF on loopback.
    t = await startTestTollgate({ env: { ACCESS_TOKEN_TTL: '60', ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    adaId = (await t.tollgate.accounts.create({ email: ADA, password: PASSWORD, name: 'Ada Lovelace' })).id;

    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience, jwksUri: `${t.issuer}/jwks` });
    // The toolkit's check as an API runs it: a bearer token, or a DPoP-bound one with a valid proof of its key for this request (RFC 9449 §7).
    const authenticator = createRequestAuthenticator(verifier);
    const apiCalls: App['apiCalls'] = [];
    apiServer = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      req.on('end', () => {
        void (async () => {
          const call: App['apiCalls'][number] = { method: req.method!, url: req.url!, headers: { ...req.headers }, body };
          try {
            const found = await authenticator.authenticate({ method: req.method!, url: `${apiOrigin}${req.url}`, authorization: req.headers.authorization, dpop: req.headers.dpop as string | undefined });
            if (!found) throw new Error('no access token');
            Object.assign(call, { sub: found.claims.sub, scheme: found.scheme, jkt: found.claims.cnf?.jkt });
          } catch (err) {
            call.tokenError = String(err);
          }
          apiCalls.push(call);
          // An API that reflects any origin with credentials: the BFF must not pass that on.
          res.writeHead(call.sub ? 200 : 401, {
            'content-type': 'application/json', 'set-cookie': 'api-cookie=1; Path=/',
            'access-control-allow-origin': String(req.headers.origin ?? '*'), 'access-control-allow-credentials': 'true',
          });
          res.end(JSON.stringify({ method: call.method, url: call.url, body, sub: call.sub }));
        })();
      });
    });
    const apiPort = await listen(apiServer);
    apiOrigin = `http://127.0.0.1:${apiPort}`;

    const seen: Seen[] = [];
    let bff: Bff;
    const server = createServer((req, res) => {
      void bff.handle(req, res).then((handled) => {
        if (!handled) res.writeHead(200, { 'content-type': 'text/plain' }).end('the app');
      });
    });
    const port = await listen(server);
    const origin = `http://localhost:${port}`;
    const base: BffOptions = {
      issuer: t.issuer, clientId: 'bff', clientSecret: SECRET, redirectUri: `${origin}/bff/callback`, postLogoutRedirectUri: `${origin}/signed-out`,
      cookieSecret: COOKIE_SECRET, api: { target: `http://127.0.0.1:${apiPort}/v1` },
    };
    bff = createBff(base);
    app = {
      origin, seen, apiCalls,
      get bff() { return bff; },
      configure(options = {}) { bff = createBff({ ...base, ...options } as BffOptions); },
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };

    const redirectUris = [`${origin}/bff/callback`];
    const postLogoutRedirectUris = [`${origin}/signed-out`];
    await t.tollgate.clients.register({ id: 'bff', secret: SECRET, redirectUris, postLogoutRedirectUris, firstParty: true });
    await t.tollgate.clients.register({ id: 'bff-par', secret: SECRET, redirectUris, postLogoutRedirectUris, firstParty: true, requirePar: true });
    // dpop_bound_access_tokens (RFC 9449 §5.2): every token request must carry a proof; with PAR too (the pushed request's proof binds the code).
    await t.tollgate.clients.register({ id: 'bff-dpop', secret: SECRET, redirectUris, postLogoutRedirectUris, firstParty: true, requireDpop: true });
    await t.tollgate.clients.register({ id: 'bff-dpop-par', secret: SECRET, redirectUris, postLogoutRedirectUris, firstParty: true, requireDpop: true, requirePar: true });
    // Tollgate puts `sid` in ID tokens for clients that registered a back-channel logout URI only (OpenID Connect Back-Channel Logout 1.0 §2.4).
    await t.tollgate.clients.register({ id: 'bff-sid', secret: SECRET, redirectUris, postLogoutRedirectUris, firstParty: true, backchannelLogoutUri: `${origin}/bff/backchannel-logout` });
    const keys = await generateKeyPair('ES256', { extractable: true });
    jwk = { ...(await exportJWK(keys.privateKey)), kid: 'bff-1', alg: 'ES256' };
    const { d: _d, ...publicJwk } = jwk;
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    adminToken = (await adminCalls(t).machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
    await t.tollgate.clients.register({ id: 'bff-jwt', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...publicJwk, use: 'sig' }] }, redirectUris, postLogoutRedirectUris, firstParty: true });
  });
  after(async () => {
    await app?.close();
    apiServer?.closeAllConnections();
    apiServer?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  /** A user agent whose every response is recorded in app.seen. */
  const browser = () => new UserAgent({}, (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, init);
    const body = await res.clone().text();
    app.seen.push({ url: String(input), setCookies: res.headers.getSetCookie(), body });
    return res;
  }) as typeof fetch);

  const cookiesOf = (agent: UserAgent) => new Map(agent.cookieEntries());
  const cookieHeader = (cookies: Map<string, string>) => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const refreshTokenOf = async (agent: UserAgent) => String((await unseal(cookiesOf(agent).get(NAMES.refresh)!)).rt);

  /** Signs Ada in through the BFF; returns the agent, holding the BFF's cookies. */
  async function signIn(returnTo = '/notes', remember = true) {
    const agent = browser();
    const login = await agent.navigate(`${app.origin}/bff/login?return_to=${encodeURIComponent(returnTo)}`);
    assert.equal(login.status, 200, login.body.slice(0, 300));
    // "Keep me signed in" (the ID token's remember_me says which).
    let done = await agent.submit(login, '/login', { login: ADA, password: PASSWORD, ...(remember ? { remember: 'on' } : {}) });
    if (done.status === 200 && done.body.includes('/confirm')) done = await agent.submit(done, '/confirm', {});
    assert.equal(done.url, `${app.origin}${returnTo}`, `${done.status} ${done.body.slice(0, 300)}`);
    return agent;
  }

  /** A POST as the app's own scripts send it. */
  const sameOrigin = () => ({ [BFF_HEADER]: '1', origin: app.origin });
  const post = (agent: UserAgent, path: string, headers: Record<string, string> = sameOrigin()) => agent.once(`${app.origin}${path}`, { method: 'POST', headers });
  const json = async (res: Response) => (await res.json()) as Record<string, any>;
  const clearedNames = (res: Response) => res.headers.getSetCookie().filter((c) => /Max-Age=0/.test(c)).map((c) => c.split('=')[0]).sort();

  test('sign-in: login, callback, then the session says who is signed in and a token request gives an access token that verifies', async () => {
    app.configure();
    const agent = await signIn();
    const cookies = cookiesOf(agent);
    assert.deepEqual([...cookies.keys()].filter((n) => n.startsWith('tollgate-bff')).sort(), [NAMES.access, NAMES.refresh, NAMES.session].sort(), 'the sign-in in progress is cleared');

    const session = await agent.once(`${app.origin}/bff/session`);
    assert.equal(session.status, 200);
    assert.deepEqual(await json(session), { signedIn: true, sub: adaId, name: 'Ada Lovelace', email: ADA });

    const token = await post(agent, '/bff/token');
    assert.equal(token.status, 200);
    assert.equal(token.headers.get('cache-control'), 'no-store');
    const body = await json(token);
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in']);
    assert.ok(body.expires_in > 30 && body.expires_in <= 60);
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience, jwksUri: `${t.issuer}/jwks` });
    assert.equal((await verifier.verify(body.access_token)).sub, adaId);

    // Not near expiry: the cached token again, no refresh, no cookie written.
    const again = await post(agent, '/bff/token');
    assert.equal((await json(again)).access_token, body.access_token);
    assert.deepEqual(again.headers.getSetCookie(), []);
  });

  test('the cookies: HttpOnly, SameSite=Strict, scoped to /bff, persistent when remembered, under 4 KB; the sign-in in progress is Lax', async () => {
    app.configure();
    app.seen.length = 0;
    await signIn();
    const written = app.seen.flatMap((s) => s.setCookies).filter((c) => c.startsWith('tollgate-bff'));
    assert.ok(written.length >= 4);
    for (const line of written) {
      assert.ok(Buffer.byteLength(line) < 4096, `${line.split('=')[0]}: ${Buffer.byteLength(line)} bytes`);
      assert.match(line, /; Path=\/bff(;|$)/);
      assert.match(line, /; HttpOnly(;|$)/);
      assert.doesNotMatch(line, /Domain=/i);
      assert.doesNotMatch(line, /; Secure/, 'not on http://localhost');
      if (line.startsWith(NAMES.login)) assert.match(line, /SameSite=Lax/);
      else assert.match(line, /SameSite=Strict/);
    }
    const session = written.find((c) => c.startsWith(`${NAMES.session}=`) && !/Max-Age=0/.test(c))!;
    // remember_me: true in the ID token: persistent (30 days by default).
    const maxAge = Number(/Max-Age=(\d+)/.exec(session)?.[1]);
    assert.ok(maxAge > 29 * 86_400 && maxAge <= 30 * 86_400, session.replace(/=[^;]+/, '=…'));

    // Not remembered (the box left unchecked): the session and refresh cookies end with the browser.
    app.seen.length = 0;
    await signIn('/notes', false);
    const transient = app.seen.flatMap((s) => s.setCookies).filter((c) => (c.startsWith(`${NAMES.session}=`) || c.startsWith(`${NAMES.refresh}=`)) && !/Max-Age=0/.test(c));
    assert.equal(transient.length, 2, transient.map((c) => c.replace(/=[^;]+/, '=…')).join('\n'));
    for (const line of transient) assert.doesNotMatch(line, /Max-Age|Expires/i, line.replace(/=[^;]+/, '=…'));
  });

  test('the refresh token is never in a Set-Cookie value or a body the browser receives, only sealed in its cookie', async () => {
    app.configure({ refreshWithin: 60 });
    app.seen.length = 0;
    const agent = await signIn();
    const refreshTokens = [await refreshTokenOf(agent)];
    assert.equal((await post(agent, '/bff/token')).status, 200);
    refreshTokens.push(await refreshTokenOf(agent));
    await agent.once(`${app.origin}/bff/session`);
    assert.equal((await agent.once(`${app.origin}/bff/api/notes`)).status, 200);
    refreshTokens.push(await refreshTokenOf(agent));
    assert.equal(new Set(refreshTokens).size, 3, 'each refresh rotated it');
    await post(agent, '/bff/logout');
    assert.ok(app.seen.length > 6);
    for (const rt of refreshTokens) {
      assert.ok(rt.length > 20);
      for (const seen of app.seen) {
        assert.ok(!seen.body.includes(rt), `a body from ${seen.url} holds the refresh token`);
        assert.ok(!seen.setCookies.some((c) => c.includes(rt)), `a cookie from ${seen.url} holds the refresh token`);
      }
    }
  });

  test('an access token near expiry is refreshed first: a new access token, and the rotated refresh token in a new cookie', async () => {
    app.configure({ refreshWithin: 60 });
    const agent = await signIn();
    const before = { rt: await refreshTokenOf(agent), at: String((await unseal(cookiesOf(agent).get(NAMES.access)!)).at) };
    const res = await post(agent, '/bff/token');
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.notEqual(body.access_token, before.at);
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith(`${NAMES.refresh}=`) && !/Max-Age=0/.test(c)), 'a new refresh cookie');
    const after = await refreshTokenOf(agent);
    assert.notEqual(after, before.rt);
    // The old one is spent: Tollgate rotated it.
    const rp = await oidc.discovery(new URL(t.issuer), 'bff', SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
    assert.equal((await oidc.tokenIntrospection(rp, after)).active, true);
    assert.equal((await oidc.tokenIntrospection(rp, before.rt)).active, false, 'the old one is spent');
  });

  test('forced logout at Tollgate: the next token request is 401 login_required and the cookies are cleared', async () => {
    app.configure({ refreshWithin: 60 });
    const agent = await signIn();
    await t.tollgate.sessions.endEverything(adaId);
    const res = await post(agent, '/bff/token');
    assert.equal(res.status, 401);
    assert.equal((await json(res)).error, 'login_required');
    assert.deepEqual(clearedNames(res), [NAMES.access, NAMES.refresh, NAMES.session].sort());
    assert.deepEqual(await json(await agent.once(`${app.origin}/bff/session`)), { signedIn: false });
  });

  test('a copied refresh cookie used after its owner refreshed: reuse detected, both browsers are signed out', async () => {
    app.configure({ refreshWithin: 60 });
    const owner = await signIn();
    const stolen = cookieHeader(cookiesOf(owner));
    assert.equal((await post(owner, '/bff/token')).status, 200, 'the owner refreshes');
    const thief = await fetch(`${app.origin}/bff/token`, { method: 'POST', headers: { ...sameOrigin(), cookie: stolen } });
    assert.equal(thief.status, 401);
    assert.equal((await json(thief)).error, 'login_required');
    assert.deepEqual(clearedNames(thief), [NAMES.access, NAMES.refresh, NAMES.session].sort());
    const ownerAgain = await post(owner, '/bff/token');
    assert.equal(ownerAgain.status, 401, 'the whole family is revoked');
  });

  test('two token requests at the same moment (two tabs) share one refresh: both succeed, no reuse is detected', async () => {
    app.configure({ refreshWithin: 60 });
    const agent = await signIn();
    const both = await Promise.all([0, 1].map(() => post(agent, '/bff/token')));
    assert.deepEqual(both.map((r) => r.status), [200, 200]);
    const [a, b] = await Promise.all(both.map(json));
    assert.equal(a!.access_token, b!.access_token);
    // The family is alive: the rotated refresh token (both responses wrote it) still works.
    assert.equal((await post(agent, '/bff/token')).status, 200);
  });

  test('the authorization server unreachable: 503, and the cookies are kept for when it is back', async () => {
    app.configure({ refreshWithin: 60 });
    const agent = await signIn();
    const header = cookieHeader(cookiesOf(agent));
    // A server that takes connections and drops them: a closed port could be taken by another process meanwhile.
    const dead = createServer();
    dead.on('connection', (socket) => socket.destroy());
    const deadPort = await listen(dead);
    app.configure({ refreshWithin: 60, issuer: `http://localhost:${deadPort}` });
    for (const [method, path] of [['POST', '/bff/token'], ['GET', '/bff/login'], ['GET', '/bff/api/notes']]) {
      const res = await fetch(`${app.origin}${path}`, { method, headers: { ...sameOrigin(), cookie: header }, redirect: 'manual' });
      assert.equal(res.status, 503, path);
      assert.equal((await json(res)).error, 'temporarily_unavailable');
      assert.deepEqual(res.headers.getSetCookie(), [], `${path}: nothing cleared`);
    }
    dead.close();
    app.configure({ refreshWithin: 60 });
    assert.equal((await fetch(`${app.origin}/bff/token`, { method: 'POST', headers: { ...sameOrigin(), cookie: header } })).status, 200);
  });

  test('CSRF: without the custom header, from another origin, without Origin, or cross-site: 403, and no CORS is granted', async () => {
    app.configure();
    const agent = await signIn();
    for (const path of ['/bff/token', '/bff/logout', '/bff/api/notes']) {
      const calls = app.apiCalls.length;
      for (const headers of [
        { origin: app.origin },
        { [BFF_HEADER]: '1', origin: 'https://evil.example' },
        { [BFF_HEADER]: '1', origin: 'null' },
        { [BFF_HEADER]: '1' },
        { [BFF_HEADER]: '1', origin: app.origin, 'sec-fetch-site': 'cross-site' },
      ] as Array<Record<string, string>>) {
        const res = await post(agent, path, headers);
        assert.equal(res.status, 403, `${path} ${JSON.stringify(headers)}`);
        assert.equal((await json(res)).error, 'forbidden');
        assert.deepEqual(res.headers.getSetCookie(), []);
      }
      assert.equal(app.apiCalls.length, calls, 'nothing reached the API');
      const preflight = await agent.once(`${app.origin}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': BFF_HEADER } });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      assert.equal(preflight.headers.get('access-control-allow-headers'), null);
    }
    // Still signed in: the refused requests changed nothing.
    assert.equal((await post(agent, '/bff/token')).status, 200);
  });

  test('tampered, foreign, mixed and retired-key cookies: 401 login_required and cleared, never a 500', async () => {
    app.configure();
    const agent = await signIn();
    const good = cookiesOf(agent);
    const other = cookiesOf(await signIn());
    const flip = (v: string) => v.slice(0, -5) + (v.at(-5) === 'A' ? 'B' : 'A') + v.slice(-4);
    const variants: Array<[string, Map<string, string>]> = [
      ['tampered session', new Map([...good, [NAMES.session, flip(good.get(NAMES.session)!)]])],
      ['tampered refresh', new Map([...good, [NAMES.refresh, flip(good.get(NAMES.refresh)!)]])],
      ['garbage', new Map([...good, [NAMES.refresh, 'not-a-jwe']])],
      ['refresh cookie of another sign-in', new Map([...good, [NAMES.refresh, other.get(NAMES.refresh)!]])],
      ['session cookie in the refresh cookie\'s place', new Map([...good, [NAMES.refresh, good.get(NAMES.session)!]])],
      ['refresh cookie alone', new Map([[NAMES.refresh, good.get(NAMES.refresh)!]])],
    ];
    for (const [name, cookies] of variants) {
      for (const [method, path] of [['POST', '/bff/token'], ['GET', '/bff/session'], ['GET', '/bff/api/notes']]) {
        const res = await fetch(`${app.origin}${path}`, { method, headers: { ...sameOrigin(), cookie: cookieHeader(cookies) } });
        assert.equal(res.status, 401, `${name} at ${path}`);
        const body = await json(res);
        assert.equal(body.error, 'login_required');
        if (path === '/bff/session') assert.equal(body.signedIn, false);
        assert.deepEqual(clearedNames(res), [NAMES.access, NAMES.refresh, NAMES.session].sort(), `${name} at ${path}: cleared`);
      }
    }

    // A new cookie secret: the old cookies are refused (and cleared) ...
    const newSecret = randomBytes(32).toString('base64url');
    app.configure({ cookieSecret: newSecret });
    const refused = await fetch(`${app.origin}/bff/token`, { method: 'POST', headers: { ...sameOrigin(), cookie: cookieHeader(good) } });
    assert.equal(refused.status, 401);
    assert.equal(clearedNames(refused).length, 3);
    // ... unless the old secret is still listed after the new one (rotation).
    app.configure({ cookieSecret: [newSecret, COOKIE_SECRET] });
    assert.equal((await fetch(`${app.origin}/bff/token`, { method: 'POST', headers: { ...sameOrigin(), cookie: cookieHeader(good) } })).status, 200);
  });

  test('callbacks: a replayed, foreign or cross-wired callback is 400 with the sign-in cookie cleared; return_to must be a local path', async () => {
    app.configure();
    const agent = browser();
    const callbackPrefix = `${app.origin}/bff/callback`;
    const login = await agent.navigate(`${app.origin}/bff/login`);
    let stopped = await agent.submit(login, '/login', { login: ADA, password: PASSWORD }, callbackPrefix);
    if (stopped.status === 200 && stopped.body.includes('/confirm')) stopped = await agent.submit(stopped, '/confirm', {}, callbackPrefix);
    const callback = stopped.url;
    assert.ok(callback.startsWith(callbackPrefix));

    // Another browser (no sign-in in progress) presenting it: foreign.
    const foreign = await fetch(callback, { redirect: 'manual' });
    assert.equal(foreign.status, 400);
    // A browser with a sign-in of its own in progress: the state does not match.
    const crossWired = browser();
    await crossWired.once(`${app.origin}/bff/login`);
    assert.ok(cookiesOf(crossWired).has(NAMES.login));
    const wired = await crossWired.once(callback);
    assert.equal(wired.status, 400);
    assert.deepEqual(clearedNames(wired), [NAMES.login]);

    const first = await agent.once(callback, {});
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/');
    const replay = await agent.once(callback);
    assert.equal(replay.status, 400);
    assert.equal((await json(replay)).error, 'invalid_request');

    // Another origin, not a path, or what a Location header cannot carry (which once made a 500 after the code was spent).
    for (const bad of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', 'notes', '/€', '/a b', '/x\u0007']) {
      const res = await fetch(`${app.origin}/bff/login?return_to=${encodeURIComponent(bad)}`, { redirect: 'manual' });
      assert.equal(res.status, 400, bad);
      assert.equal((await json(res)).error, 'invalid_request', bad);
    }
  });

  test('logout revokes the refresh token at Tollgate, clears the cookies and answers the RP-initiated logout URL', async () => {
    app.configure();
    const agent = await signIn();
    const rt = await refreshTokenOf(agent);
    const idToken = String((await unseal(cookiesOf(agent).get(NAMES.session)!)).idt);
    const res = await post(agent, '/bff/logout');
    assert.equal(res.status, 200);
    const body = await json(res);
    const url = new URL(body.logoutUrl);
    const rp = await oidc.discovery(new URL(t.issuer), 'bff', SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
    assert.equal(`${url.origin}${url.pathname}`, rp.serverMetadata().end_session_endpoint);
    assert.equal(url.searchParams.get('id_token_hint'), idToken);
    assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${app.origin}/signed-out`);
    assert.equal(body.revoked, true);
    assert.deepEqual(clearedNames(res), [NAMES.access, NAMES.refresh, NAMES.session].sort());
    assert.equal((await oidc.tokenIntrospection(rp, rt)).active, false);
    assert.deepEqual(await json(await agent.once(`${app.origin}/bff/session`)), { signedIn: false });
  });

  test('the API proxy attaches the access token, forwards no cookie, returns no API cookie; non-GET needs the same-origin headers', async () => {
    app.configure();
    const agent = await signIn();
    const calls = app.apiCalls.length;
    const got = await agent.once(`${app.origin}/bff/api/notes?mine=1`);
    assert.equal(got.status, 200);
    assert.deepEqual(await json(got), { method: 'GET', url: '/v1/notes?mine=1', body: '', sub: adaId });
    assert.equal(got.headers.getSetCookie().length, 0, 'the API\'s cookie stays behind');
    assert.equal(got.headers.get('access-control-allow-origin'), null, 'the API\'s CORS grant stays behind');
    assert.equal(got.headers.get('access-control-allow-credentials'), null);
    const call = app.apiCalls[calls]!;
    assert.equal(call.headers.cookie, undefined);
    assert.equal(call.headers[BFF_HEADER], undefined);

    const created = await agent.once(`${app.origin}/bff/api/notes`, { method: 'POST', headers: { ...sameOrigin(), 'content-type': 'application/json' }, body: '{"text":"hi"}' });
    assert.equal(created.status, 200);
    assert.deepEqual(await json(created), { method: 'POST', url: '/v1/notes', body: '{"text":"hi"}', sub: adaId });

    const anonymous = await fetch(`${app.origin}/bff/api/notes`);
    assert.equal(anonymous.status, 401);
    assert.equal(app.apiCalls.length, calls + 2);
  });

  test('the proxy sends the token to the configured API only: never another host, never outside its path', () => {
    // A target without a path was the case where `/bff/api//evil.example/x` resolved to https://evil.example/x.
    assert.equal(targetUrl(new URL('https://api.example'), '//evil.example/x', '')?.origin, 'https://api.example');
    assert.equal(targetUrl(new URL('https://api.example'), '/\\evil.example/x', '')?.origin, 'https://api.example');
    assert.equal(targetUrl(new URL('https://api.example/v1'), '/../admin', ''), undefined);
    assert.equal(targetUrl(new URL('https://api.example/v1/'), '/notes', '?mine=1')?.href, 'https://api.example/v1/notes?mine=1');
    assert.equal(targetUrl(new URL('https://api.example/v1'), '', '')?.href, 'https://api.example/v1/');
  });

  test('a client that must push its requests (PAR) and one that signs its assertions (private_key_jwt) sign in too', async () => {
    for (const options of [{ clientId: 'bff-par' }, { clientId: 'bff-jwt', clientSecret: undefined, privateKey: jwk }] as Array<Partial<BffOptions>>) {
      app.configure(options);
      const agent = await signIn();
      const res = await post(agent, '/bff/token');
      assert.equal(res.status, 200, options.clientId);
    }
  });

  test('DPoP (dpop: true): a client held to DPoP signs in; the API receives DPoP-bound tokens with a proof of the BFF\'s key, through refreshes; the page gets no token', async () => {
    for (const clientId of ['bff-dpop', 'bff-dpop-par']) {
      app.configure({ clientId, dpop: true, refreshWithin: 60 });
      const agent = await signIn();
      const calls = app.apiCalls.length;
      for (const method of ['GET', 'POST']) {
        // refreshWithin 60 with 60 s tokens: each call refreshes first, with a proof, and gets a bound token.
        const got = await agent.once(`${app.origin}/bff/api/notes?n=1`, { method, headers: sameOrigin() });
        assert.equal(got.status, 200, `${clientId} ${method}: ${JSON.stringify(app.apiCalls.at(-1))}`);
        assert.equal((await json(got)).sub, adaId);
      }
      const [first, second] = app.apiCalls.slice(calls);
      assert.equal(first!.scheme, 'DPoP', clientId);
      assert.equal(second!.scheme, 'DPoP');
      // One key, derived from the cookie secret: the same thumbprint through rotations.
      assert.equal(first!.jkt, second!.jkt);
      assert.match(String(first!.jkt), /^[\w-]{43}$/);
      assert.equal(String(first!.headers.authorization).split(' ')[0], 'DPoP');
      // Two calls at once (two tabs), each needing a refresh: one refresh, shared; the family stays alive.
      const both = await Promise.all([0, 1].map(() => agent.once(`${app.origin}/bff/api/notes`)));
      assert.deepEqual(both.map((r) => r.status), [200, 200]);
      assert.equal((await agent.once(`${app.origin}/bff/api/notes`)).status, 200, 'no reuse detected');
      // A bound token is of no use to the page: /bff/token says where to go instead.
      const token = await post(agent, '/bff/token');
      assert.equal(token.status, 400);
      assert.match(String((await json(token)).error_description), /\/bff\/api\//);
      // The same secret, another instance (or a restart): the same key, so the cached token still serves.
      app.configure({ clientId, dpop: true });
      const again = await agent.once(`${app.origin}/bff/api/notes`);
      assert.equal(again.status, 200);
      assert.equal(again.headers.getSetCookie().length, 0, 'the cached token, no refresh');
      assert.equal(app.apiCalls.at(-1)!.jkt, first!.jkt);
    }
  });

  test('DPoP: without dpop a client held to DPoP is refused at sign-in with a clear 400 and the server\'s reason to onError; a rotated cookie secret keeps the tokens bound to the old key usable', async () => {
    const errors: unknown[] = [];
    app.configure({ clientId: 'bff-dpop', onError: (err) => errors.push(err) });
    const agent = browser();
    const login = await agent.navigate(`${app.origin}/bff/login`);
    const done = await agent.submit(login, '/login', { login: ADA, password: PASSWORD });
    assert.equal(done.status, 400);
    assert.deepEqual(JSON.parse(done.body), { error: 'invalid_grant', error_description: 'the sign-in could not be completed' });
    // The operator learns why (the server's own description), the person does not.
    assert.equal(errors.length, 1);
    // A copy (onError never gets the error's cause: openid-client's may hold a token response).
    assert.equal((errors[0] as Error).name, 'ResponseBodyError');
    assert.equal((errors[0] as { error?: string }).error, 'invalid_grant');
    assert.equal((errors[0] as Error).cause, undefined);

    // Rotation: the new secret first, the old one still given.
    app.configure({ clientId: 'bff-dpop', dpop: true });
    const signedIn = await signIn();
    assert.equal((await signedIn.once(`${app.origin}/bff/api/notes`)).status, 200);
    const oldJkt = app.apiCalls.at(-1)!.jkt;
    app.configure({ clientId: 'bff-dpop', dpop: true, cookieSecret: [randomBytes(32).toString('base64url'), COOKIE_SECRET] });
    const kept = await signedIn.once(`${app.origin}/bff/api/notes`);
    assert.equal(kept.status, 200);
    assert.equal(kept.headers.getSetCookie().length, 0, 'no refresh: the old key still signs for its token');
    assert.equal(app.apiCalls.at(-1)!.jkt, oldJkt);
    assert.equal(app.apiCalls.at(-1)!.scheme, 'DPoP');
  });

  test('a login session ended in the store (the deny-list a back-channel logout writes) signs the browser out', async () => {
    const store = createMemoryStore();
    app.configure({ store, clientId: 'bff-sid' });
    const agent = await signIn();
    const sid = String((await unseal(cookiesOf(agent).get(NAMES.session)!)).sid);
    assert.ok(sid.length > 10);
    assert.equal((await agent.once(`${app.origin}/bff/session`)).status, 200);
    await store.set(endedSessionKey(sid), '1', 3600);
    const res = await agent.once(`${app.origin}/bff/session`);
    assert.equal(res.status, 401);
    assert.deepEqual(clearedNames(res), [NAMES.access, NAMES.refresh, NAMES.session].sort());
  });

  /** A logout token signed with Tollgate's own key (what its back-channel logout sends), with `claims` over the usual ones. */
  async function logoutToken(claims: JWTPayload & Record<string, unknown> = {}, options: { typ?: string; key?: JWK } = {}) {
    const jwk = options.key ?? t.tollgate.keys.privateJwks.keys[0]!;
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: t.issuer, aud: 'bff-sid', iat: now, exp: now + 120, jti: randomBytes(12).toString('base64url'), events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete (payload as Record<string, unknown>)[name];
    return new SignJWT(payload).setProtectedHeader({ alg: jwk.alg!, kid: jwk.kid, typ: options.typ ?? 'logout+jwt' }).sign(await importJWK(jwk, jwk.alg));
  }
  const sendLogout = (token: string, type = 'application/x-www-form-urlencoded') =>
    fetch(`${app.origin}/bff/backchannel-logout`, { method: 'POST', headers: { 'content-type': type }, body: new URLSearchParams({ logout_token: token }).toString() });

  test('back-channel logout: a forced logout through the admin API makes Tollgate POST a logout token to the BFF, and its session ends at once, before any refresh', async () => {
    const store = createMemoryStore();
    const errors: unknown[] = [];
    app.configure({ store, clientId: 'bff-sid', onError: (e) => errors.push(e) });
    const agent = await signIn();
    const other = await signIn();
    const otherCookies = cookiesOf(other);
    assert.equal((await post(agent, '/bff/token')).status, 200, 'a cached access token: no refresh needed for a minute');
    const forced = await adminCalls(t).api('POST', `/users/${adaId}/logout`, { token: adminToken });
    assert.equal(forced.status, 200, forced.text);
    const ended = forced.body as { backchannel_notified: number; backchannel_failed: number };
    assert.ok(ended.backchannel_notified >= 1, JSON.stringify(ended));
    assert.equal(ended.backchannel_failed, 0, JSON.stringify(ended));
    for (const b of [agent, other]) {
      const session = await b.once(`${app.origin}/bff/session`);
      assert.equal(session.status, 401);
      assert.deepEqual(await json(session), { signedIn: false, error: 'login_required', error_description: 'the session has ended' });
      assert.deepEqual(clearedNames(session), [NAMES.access, NAMES.refresh, NAMES.session].sort());
    }
    const cachedTokenRefused = await fetch(`${app.origin}/bff/token`, { method: 'POST', headers: { ...sameOrigin(), cookie: cookieHeader(otherCookies) } });
    assert.equal(cachedTokenRefused.status, 401, 'the cached access token is not handed out either');
    assert.deepEqual(errors, []);
  });

  test('back-channel logout: signing out at Tollgate (its end-session page) ends the BFF session of that sign-in', async () => {
    const store = createMemoryStore();
    app.configure({ store, clientId: 'bff-sid' });
    const agent = await signIn();
    const bffCookies = cookieHeader(new Map([...cookiesOf(agent)].filter(([name]) => name.startsWith('tollgate-bff'))));
    const sessionWith = () => fetch(`${app.origin}/bff/session`, { headers: { cookie: bffCookies } });
    assert.equal((await sessionWith()).status, 200);
    const confirm = await agent.navigate(`${t.issuer}/session/end?client_id=bff-sid`);
    assert.equal(confirm.status, 200, confirm.body.slice(0, 300));
    await agent.submit(confirm, '/session/end/confirm', { logout: 'yes' });
    const res = await sessionWith();
    assert.equal(res.status, 401);
    assert.equal((await json(res)).signedIn, false);
  });

  test('back-channel logout: forged, expired, replayed, wrong audience, ID-token-like or malformed tokens are 400 invalid_request, never a 500, and end nothing', async () => {
    const store = createMemoryStore();
    app.configure({ store, clientId: 'bff-sid' });
    const agent = await signIn();
    const sid = String((await unseal(cookiesOf(agent).get(NAMES.session)!)).sid);
    const stranger = await generateKeyPair('ES256', { extractable: true });
    const strangerJwk = { ...(await exportJWK(stranger.privateKey)), alg: 'ES256', kid: t.tollgate.keys.privateJwks.keys[0]!.kid };
    const old = Math.floor(Date.now() / 1000) - 3600;
    const bad: Array<[string, Promise<string> | string, string?]> = [
      ['forged (another key, Tollgate\'s kid)', logoutToken({ sid }, { key: strangerJwk })],
      ['expired', logoutToken({ sid, iat: old, exp: old + 120 })],
      ['issued too long ago', logoutToken({ sid, iat: old, exp: old + 86_400 * 2 })],
      ['for another client', logoutToken({ sid, aud: 'someone-else' })],
      ['from another issuer', logoutToken({ sid, iss: 'https://evil.example' })],
      ['with a nonce (an ID token)', logoutToken({ sid, nonce: 'n' })],
      ['without the event', logoutToken({ sid, events: undefined })],
      ['with another event', logoutToken({ sid, events: { 'https://example.com/other': {} } })],
      ['without sid or sub', logoutToken({ sub: undefined })],
      ['without jti', logoutToken({ sid, jti: undefined })],
      ['without exp (REQUIRED, §2.4)', logoutToken({ sid, exp: undefined })],
      ['typed as something else', logoutToken({ sid }, { typ: 'JWT+other' })],
      ['not a JWT', 'garbage'],
      ['empty', ''],
      ['as JSON', logoutToken({ sid }), 'application/json'],
    ];
    for (const [name, token, type] of bad) {
      const res = await sendLogout(await token, type);
      assert.equal(res.status, 400, name);
      assert.equal(res.headers.get('cache-control'), 'no-store', name);
      assert.equal((await json(res)).error, 'invalid_request', name);
    }
    assert.equal((await agent.once(`${app.origin}/bff/session`)).status, 200, 'still signed in');

    // A good one ends the session; the same token again is a replay.
    const good = await logoutToken({ sid });
    const first = await sendLogout(good);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    const replay = await sendLogout(good);
    assert.equal(replay.status, 400);
    assert.match((await json(replay)).error_description, /before/);
    assert.equal((await agent.once(`${app.origin}/bff/session`)).status, 401);
    assert.equal(await store.get(endedSessionKey(sid)), '1');

    // A large body is refused unread; a BFF without a store cannot receive logouts.
    assert.equal((await sendLogout('x'.repeat(64 * 1024))).status, 400);
    app.configure({ clientId: 'bff-sid' });
    assert.equal((await sendLogout(await logoutToken({ sid }))).status, 400);
  });

  test('back-channel logout with sub and no sid ends every session of that person begun before it, not a later one', async () => {
    const store = createMemoryStore();
    app.configure({ store, clientId: 'bff-sid' });
    const before = await signIn();
    assert.equal((await sendLogout(await logoutToken({ sub: adaId }))).status, 200);
    assert.equal((await before.once(`${app.origin}/bff/session`)).status, 401);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = await signIn();
    assert.equal((await later.once(`${app.origin}/bff/session`)).status, 200);
  });

  type RedisPair = [ReturnType<typeof createClient>, ReturnType<typeof createClient>];
  /**
   * Two BFF instances sharing one Redis (a real redis-server): the app's own
   * (A) with `a` on top of its usual options, and a second one (B) with `b`,
   * on its own port. `run` gets both Redis connections and B's origin.
   */
  async function withTwoInstances(a: Partial<BffOptions>, b: Partial<BffOptions>, run: (clients: RedisPair, otherOrigin: string) => Promise<void>) {
    const redis = await startRedis();
    const clients: RedisPair = [createClient({ url: redis.url }), createClient({ url: redis.url })];
    await Promise.all(clients.map((c) => c.connect()));
    const other = createServer();
    try {
      app.configure({ ...a, store: createRedisStore(clients[0]) });
      const instanceB = createBff({ issuer: t.issuer, clientId: 'bff', clientSecret: SECRET, redirectUri: `${app.origin}/bff/callback`, cookieSecret: COOKIE_SECRET, ...b, store: createRedisStore(clients[1]) });
      other.on('request', (req, res) => void instanceB.handle(req, res));
      await run(clients, `http://127.0.0.1:${await listen(other)}`);
    } finally {
      other.closeAllConnections();
      other.close();
      await Promise.all(clients.map((c) => c.quit()));
      await redis.stop();
    }
  }

  test('back-channel logout with a Redis store: received by one instance, the session ends at another; a replay at the other is refused', { skip: requireRedis() }, async () => {
    await withTwoInstances({ clientId: 'bff-sid' }, { clientId: 'bff-sid' }, async (clients, otherOrigin) => {
      const agent = await signIn();
      const cookie = cookieHeader(cookiesOf(agent));
      const sessionAtB = () => fetch(`${otherOrigin}/bff/session`, { headers: { cookie } });
      assert.equal((await sessionAtB()).status, 200, 'instance B reads the cookies too');
      const sid = String((await unseal(cookiesOf(agent).get(NAMES.session)!)).sid);
      const token = await logoutToken({ sid });
      assert.equal((await sendLogout(token)).status, 200, 'received at A');
      assert.equal((await sessionAtB()).status, 401, 'ended at B');
      const ttl = await clients[1]!.ttl(endedSessionKey(sid));
      assert.ok(ttl > 29 * 86_400 && ttl <= 30 * 86_400, `listed for as long as a session lives: ${ttl}`);
      const replayAtB = await fetch(`${otherOrigin}/bff/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `logout_token=${token}` });
      assert.equal(replayAtB.status, 400);
    });
  });

  test('tokenStorage store: the browser holds the session cookie only; tokens in the store, rotated there; ended by deleting the entry; logout deletes it', async () => {
    const store = createMemoryStore();
    const entries = async (bid: string) => store.get(`tollgate-bff:tokens:${bid}`);
    app.configure({ store, tokenStorage: 'store', refreshWithin: 60 });
    const seenBefore = app.seen.length;
    const agent = await signIn();
    assert.deepEqual([...cookiesOf(agent).keys()].filter((n) => n.startsWith('tollgate-bff-')), [NAMES.session], 'no refresh or access cookie');
    const bid = String((await unseal(cookiesOf(agent).get(NAMES.session)!)).bid);
    const first = JSON.parse((await entries(bid))!) as { rt: string; at: string };
    assert.ok(first.rt.length > 20 && first.at.length > 20);
    for (const { body, setCookies } of app.seen.slice(seenBefore)) {
      assert.ok(!body.includes(first.rt), 'the refresh token in no body');
      assert.ok(!setCookies.some((c) => c.startsWith(`${NAMES.refresh}=`) && !/Max-Age=0/.test(c)), 'no refresh cookie');
    }
    // refreshWithin 60 with 60 s tokens: this refreshes, the rotated token is written to the store, no cookie.
    const issued = await post(agent, '/bff/token');
    assert.equal(issued.status, 200);
    assert.deepEqual(issued.headers.getSetCookie(), []);
    const second = JSON.parse((await entries(bid))!) as { rt: string };
    assert.notEqual(second.rt, first.rt, 'rotated in the store');
    assert.equal((await agent.once(`${app.origin}/bff/api/notes`)).status, 200);

    // The server ends the sign-in by deleting its entry: the next request is 401 and the cookie cleared.
    const copy = cookieHeader(cookiesOf(agent));
    await store.delete(`tollgate-bff:tokens:${bid}`);
    const ended = await agent.once(`${app.origin}/bff/session`);
    assert.equal(ended.status, 401);
    assert.deepEqual(clearedNames(ended), [NAMES.access, NAMES.refresh, NAMES.session].sort());

    // Logout deletes the entry: a copy of the session cookie taken before is worth nothing after.
    const again = await signIn();
    const againBid = String((await unseal(cookiesOf(again).get(NAMES.session)!)).bid);
    const stolen = cookieHeader(cookiesOf(again));
    assert.equal((await post(again, '/bff/logout')).status, 200);
    assert.equal(await entries(againBid), undefined);
    for (const cookie of [stolen, copy]) {
      const res = await fetch(`${app.origin}/bff/api/notes`, { headers: { cookie } });
      assert.equal(res.status, 401);
    }
  });

  test('tokenStorage store: a store that fails answers 503 with the cookie kept and tells onError; logout still signs out; no store, no store mode', async () => {
    const store = createMemoryStore();
    let down = false;
    const flaky: typeof store = {
      get: (key) => (down ? Promise.reject(new Error('store down')) : store.get(key)),
      set: (key, value, ttl) => (down ? Promise.reject(new Error('store down')) : store.set(key, value, ttl)),
      add: (key, value, ttl) => (down ? Promise.reject(new Error('store down')) : store.add(key, value, ttl)),
      delete: (key) => (down ? Promise.reject(new Error('store down')) : store.delete(key)),
    };
    const errors: unknown[] = [];
    app.configure({ store: flaky, tokenStorage: 'store', onError: (err) => errors.push(err) });
    const agent = await signIn();
    down = true;
    for (const [method, path] of [['GET', '/bff/session'], ['POST', '/bff/token'], ['GET', '/bff/api/notes']]) {
      const res = await agent.once(`${app.origin}${path}`, { method, headers: sameOrigin() });
      assert.equal(res.status, 503, path);
      assert.equal((await json(res)).error, 'temporarily_unavailable');
      assert.deepEqual(res.headers.getSetCookie(), [], `${path}: the cookie is kept`);
    }
    assert.ok(errors.length >= 3 && errors.every((e) => (e as Error).message === 'store down'));
    const out = await post(agent, '/bff/logout');
    assert.equal(out.status, 200);
    assert.ok(clearedNames(out).includes(NAMES.session));
    down = false;

    // The store fails while keeping a refreshed token (reads work, writes do not): the previous refresh token is
    // spent, so the sign-in cannot go on: 401 login_required with the cookie cleared, and the new token revoked at Tollgate.
    app.configure({ store: flaky, tokenStorage: 'store', refreshWithin: 60, onError: (err) => errors.push(err) });
    const refreshing = await signIn();
    const bid = String((await unseal(cookiesOf(refreshing).get(NAMES.session)!)).bid);
    const spent = (JSON.parse((await store.get(`tollgate-bff:tokens:${bid}`))!) as { rt: string }).rt;
    let writes = 0;
    flaky.set = () => { writes += 1; return Promise.reject(new Error('store down')); };
    const lost = await post(refreshing, '/bff/token');
    assert.equal(lost.status, 401);
    assert.equal((await json(lost)).error, 'login_required');
    assert.ok(clearedNames(lost).includes(NAMES.session));
    assert.equal(writes, 2, 'written once more before giving up');
    // The family is gone at Tollgate: the refresh token the store still holds is refused (reuse, or the revocation).
    const rp = await oidc.discovery(new URL(t.issuer), 'bff', SECRET, undefined, { execute: [oidc.allowInsecureRequests] });
    await assert.rejects(oidc.refreshTokenGrant(rp, spent), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');

    assert.throws(() => createBff({ issuer: t.issuer, clientId: 'bff', clientSecret: SECRET, redirectUri: `${app.origin}/bff/callback`, cookieSecret: COOKIE_SECRET, tokenStorage: 'store' }), /needs a store/);
  });

  test('tokenStorage store with Redis: signed in at one instance, the tokens are found and refreshed at another', { skip: requireRedis() }, async () => {
    await withTwoInstances({ tokenStorage: 'store' }, { api: { target: `${apiOrigin}/v1` }, tokenStorage: 'store', refreshWithin: 60 }, async (clients, otherOrigin) => {
      const agent = await signIn();
      const bid = String((await unseal(cookiesOf(agent).get(NAMES.session)!)).bid);
      const before = JSON.parse((await clients[1]!.get(`tollgate-bff:tokens:${bid}`))!) as { rt: string };
      const atB = await fetch(`${otherOrigin}/bff/api/notes`, { headers: { cookie: cookieHeader(cookiesOf(agent)) } });
      assert.equal(atB.status, 200, 'instance B finds the tokens');
      const after = JSON.parse((await clients[0]!.get(`tollgate-bff:tokens:${bid}`))!) as { rt: string };
      assert.notEqual(after.rt, before.rt, 'B refreshed (refreshWithin 60), and A sees the rotated token');
      assert.equal((await agent.once(`${app.origin}/bff/api/notes`)).status, 200, 'A goes on with it');
    });
  });

  test('the Koa adapter answers the BFF\'s paths and passes every other one on', async () => {
    const koa = new Koa();
    koa.use(bffMiddleware(createBff({ issuer: t.issuer, clientId: 'bff', clientSecret: SECRET, redirectUri: `${app.origin}/bff/callback`, cookieSecret: COOKIE_SECRET })));
    koa.use((ctx) => { ctx.body = { app: ctx.path }; });
    const server = createServer(koa.callback());
    const port = await listen(server);
    try {
      const session = await fetch(`http://127.0.0.1:${port}/bff/session`);
      assert.deepEqual(await session.json(), { signedIn: false });
      const refused = await fetch(`http://127.0.0.1:${port}/bff/token`, { method: 'POST' });
      assert.equal(refused.status, 403);
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/bffx`)).json(), { app: '/bffx' });
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/notes`)).json(), { app: '/notes' });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test('the built package, its type declarations included, imports jose, openid-client and Node\'s own modules only', async () => {
    const dir = path.join(ROOT, 'dist/bff');
    // Declarations too: an app without @types/koa (or without Koa) must compile against them.
    const files = (await readdir(dir)).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
    assert.ok(files.includes('index.js') && files.includes('index.d.ts'));
    const imported = new Set<string>();
    for (const file of files) {
      const text = await readFile(path.join(dir, file), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)) imported.add(m[1] ?? m[2]!);
    }
    const outside = [...imported].filter((s) => !s.startsWith('./') && !s.startsWith('node:'));
    assert.deepEqual(outside.sort(), ['jose', 'openid-client']);
  });

  test('configuration mistakes are refused when the BFF is made', () => {
    const good: BffOptions = { issuer: t.issuer, clientId: 'bff', clientSecret: SECRET, redirectUri: 'https://app.example/bff/callback', cookieSecret: COOKIE_SECRET };
    assert.throws(() => createBff({ ...good, cookieSecret: 'short' }), /at least 32 bytes/);
    assert.throws(() => createBff({ ...good, redirectUri: 'http://app.example/bff/callback' }), /https/);
    assert.throws(() => createBff({ ...good, redirectUri: 'https://app.example/callback' }), /\/bff\/callback/);
    assert.throws(() => createBff({ ...good, clientSecret: undefined }), /clientSecret or privateKey/);
  });
});
