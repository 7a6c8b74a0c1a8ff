// The resource-server toolkit as its users get it: imported as
// `tollgate/resource-server` (the built package export), verifying tokens
// from a running Tollgate whose keys it discovers and fetches over HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, type Server } from 'node:http';
import { generateKeyPair, importJWK, SignJWT, decodeJwt, decodeProtectedHeader, type JWK, type JWTPayload } from 'jose';
import Koa from 'koa';
import * as oauth from 'oauth4webapi';
import {
  BearerError, DPOP_ALGORITHMS, DpopError, VerifierUnavailableError, bearerChallenge, createAccessTokenVerifier, createDpopVerifier, createMemoryReplayCache, createRedisReplayCache,
  requireAccessToken, requireRole, requireScope, verifyAccessToken, authOf,
  type AccessTokenVerifier, type AuthState,
} from 'tollgate/resource-server';
import { authorizationServer, boundClientCredentialsToken, dpopHandle, insecure, newKey, proof, type KeyPair } from '../support/dpop.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { rotateSigningKeys } from '../../server/keys/key-store.ts';
import { freePort } from '../support/ports.ts';
import { ROOT } from '../support/processes.ts';
import { requireRedis, startRedis } from '../support/redis.ts';
import { createClient } from 'redis';

/** A fetch that counts requests per path, to see what the verifier asks the issuer for. */
function countingFetch() {
  const counts = new Map<string, number>();
  const fetcher: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    return fetch(input, init);
  };
  return { fetch: fetcher, count: (path: string) => counts.get(path) ?? 0 };
}

async function clientCredentialsToken(t: TestTollgate, secret: string, scope = 'basic'): Promise<string> {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A token signed with Tollgate's own key, with the claims a test needs (roles, org, odd lifetimes). */
async function signedByTollgate(t: TestTollgate, claims: JWTPayload, header: { alg?: string; typ?: string } = {}): Promise<string> {
  const alg = header.alg ?? 'ES256';
  const jwk = t.tollgate.keys.privateJwks.keys.find((k) => k.alg === alg) as JWK;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: 'svc', scope: 'basic', jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg, typ: header.typ ?? 'at+jwt', kid: jwk.kid! })
    .setIssuer(t.issuer).setAudience((claims.aud as string | undefined) ?? t.config.apiAudience).setSubject(String(claims.sub ?? 'user-1'))
    .setIssuedAt(typeof claims.iat === 'number' ? claims.iat : now).setExpirationTime(typeof claims.exp === 'number' ? claims.exp : now + 300)
    .sign(await importJWK(jwk, alg));
}

describe('resource-server toolkit', () => {
  let t: TestTollgate;
  let secret: string;
  let port: number;

  before(async () => {
    port = await freePort();
    t = await startTestTollgate({ port });
    secret = (await t.tollgate.clients.register({ id: 'svc', grantTypes: ['client_credentials'], scope: 'basic admin' })).client_secret!;
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('is importable from plain Node as tollgate/resource-server (the built export)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', "const m = await import('tollgate/resource-server'); console.log(Object.keys(m).sort().join(' '))"], { cwd: ROOT });
    for (const name of ['verifyAccessToken', 'createAccessTokenVerifier', 'requireAccessToken', 'requireScope', 'requireRole', 'BearerError']) {
      assert.ok(stdout.split(' ').map((s) => s.trim()).includes(name), `${name} in ${stdout}`);
    }
  });

  test('verifyAccessToken finds the keys through discovery and verifies a Tollgate token', async () => {
    const token = await clientCredentialsToken(t, secret);
    const claims = await verifyAccessToken(token, { issuer: t.issuer, audience: t.config.apiAudience });
    assert.equal(claims.iss, t.issuer);
    assert.equal(claims.client_id, 'svc');
    assert.equal(claims.scope, 'basic');
    // Same options: the same verifier and key cache (a second call fetches nothing; proven below with a counting fetch).
    assert.equal((await verifyAccessToken(token, { issuer: t.issuer, audience: t.config.apiAudience })).jti, claims.jti);
  });

  test('keys are fetched once and reused', async () => {
    const counter = countingFetch();
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience, fetch: counter.fetch });
    const token = await clientCredentialsToken(t, secret);
    for (let i = 0; i < 20; i++) await verifier.verify(token);
    await Promise.all(Array.from({ length: 20 }, () => verifier.verify(token)));
    assert.equal(counter.count('/.well-known/openid-configuration'), 1);
    assert.equal(counter.count('/jwks'), 1);
  });

  test('rejects what RFC 8725 and RFC 9068 say to reject', async () => {
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience, algorithms: ['ES256'] });
    const now = Math.floor(Date.now() / 1000);
    const foreign = await generateKeyPair('ES256');
    const cases: Array<[string, string, RegExp]> = [
      ['an ID token (typ JWT)', await signedByTollgate(t, {}, { typ: 'JWT' }), /typ/],
      ['another audience', await signedByTollgate(t, { aud: 'https://other.example' }), /aud/],
      ['another issuer', await new SignJWT({ client_id: 'x', jti: 'j' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).setIssuer('https://evil.example').setAudience(t.config.apiAudience).setSubject('s').setIssuedAt().setExpirationTime('5m').sign(foreign.privateKey), /signature|key|iss/],
      ['expired a minute ago', await signedByTollgate(t, { iat: now - 600, exp: now - 60 }), /expired/],
      ['an algorithm off the allow-list (RS256)', await signedByTollgate(t, {}, { alg: 'RS256' }), /algorithm/],
      ['a key Tollgate never had', await new SignJWT({ client_id: 'x', jti: 'j' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'made-up' }).setIssuer(t.issuer).setAudience(t.config.apiAudience).setSubject('s').setIssuedAt().setExpirationTime('5m').sign(foreign.privateKey), /key/],
      ['alg none', `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: t.issuer, aud: t.config.apiAudience, sub: 's', exp: now + 60 })).toString('base64url')}.`, /malformed/],
      ['not a JWT', 'abc', /malformed/],
    ];
    for (const [what, token, description] of cases) {
      await assert.rejects(verifier.verify(token).then(() => assert.fail(`${what}: accepted`)), (err: unknown) => {
        assert.ok(err instanceof BearerError, `${what}: ${String(err)}`);
        assert.equal(err.code, 'invalid_token', what);
        assert.equal(err.status, 401, what);
        assert.match(err.message, description, what);
        return true;
      });
    }
    // Within the default 15 s of clock skew: still accepted.
    assert.ok(await verifier.verify(await signedByTollgate(t, { iat: now - 600, exp: now - 5 })));
  });

  test('refuses unsafe configurations', () => {
    assert.throws(() => createAccessTokenVerifier({ issuer: t.issuer, audience: 'a', algorithms: ['HS256'] }), /asymmetric/);
    assert.throws(() => createAccessTokenVerifier({ issuer: t.issuer, audience: 'a', algorithms: ['none'] }), /asymmetric/);
    assert.throws(() => createAccessTokenVerifier({ issuer: t.issuer, audience: 'a', clockToleranceSeconds: 3600 }), /clockTolerance/);
  });

  test('unknown kids cannot cause a fetch storm: at most one refetch per cooldown', async () => {
    const counter = countingFetch();
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience, fetch: counter.fetch });
    await verifier.verify(await clientCredentialsToken(t, secret));
    assert.equal(counter.count('/jwks'), 1);
    const foreign = await generateKeyPair('ES256');
    const forged = await Promise.all(Array.from({ length: 200 }, (_, i) => new SignJWT({ client_id: 'x', jti: `j${i}` })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `forged-${i}` })
      .setIssuer(t.issuer).setAudience(t.config.apiAudience).setSubject('s').setIssuedAt().setExpirationTime('5m').sign(foreign.privateKey)));
    const results = await Promise.allSettled(forged.map((token) => verifier.verify(token)));
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof BearerError && r.reason.status === 401));
    for (const token of forged.slice(0, 50)) await assert.rejects(verifier.verify(token));
    // The first fetch was just now, inside the 30 s cooldown: none of the 250 refetched.
    assert.equal(counter.count('/jwks'), 1);
  });

  test('a token signed by a rotated-in key verifies after one refetch; older tokens keep verifying', async () => {
    const counter = countingFetch();
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience, fetch: counter.fetch, cooldownMs: 100 });
    const before = await clientCredentialsToken(t, secret);
    await verifier.verify(before);
    assert.equal(counter.count('/jwks'), 1);

    // Rotate: the operator runs `keys rotate` and restarts Tollgate (same issuer, same port).
    await t.close();
    const { added } = await rotateSigningKeys(t.dirs.keys);
    t = await startTestTollgate({ dirs: t.dirs, port });
    const afterRotation = await clientCredentialsToken(t, secret);
    assert.ok(added.includes(decodeProtectedHeader(afterRotation).kid!), 'the new token is signed by a new key');

    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal((await verifier.verify(afterRotation)).jti !== undefined, true);
    assert.equal(counter.count('/jwks'), 2, 'one refetch for the new kid');
    await verifier.verify(before);
    await verifier.verify(afterRotation);
    assert.equal(counter.count('/jwks'), 2, 'both keys now cached');
  });

  test('an unreachable issuer is 503 temporarily_unavailable, not 401', async () => {
    const closedPort = await freePort();
    const verifier = createAccessTokenVerifier({ issuer: `http://127.0.0.1:${closedPort}`, audience: t.config.apiAudience, timeoutMs: 1000 });
    await assert.rejects(verifier.verify(await clientCredentialsToken(t, secret)), (err: unknown) => {
      assert.ok(err instanceof VerifierUnavailableError, String(err));
      assert.equal(err.status, 503);
      return true;
    });
  });

  test('a failing issuer is not asked again on every request', async () => {
    const closedPort = await freePort();
    const counter = countingFetch();
    const verifier = createAccessTokenVerifier({ issuer: `http://127.0.0.1:${closedPort}`, audience: t.config.apiAudience, fetch: counter.fetch, timeoutMs: 500 });
    const token = await clientCredentialsToken(t, secret);
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => verifier.verify(token)));
    for (let i = 0; i < 20; i++) await verifier.verify(token).catch(() => undefined);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof VerifierUnavailableError));
    assert.equal(counter.count('/.well-known/openid-configuration'), 1);
  });

  test('claims of the wrong type are refused, not trusted', async () => {
    const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience });
    for (const claims of [{ scope: ['admin'] }, { roles: 'superadmin' }, { org: 42 }]) {
      await assert.rejects(verifier.verify(await signedByTollgate(t, claims)), (err: unknown) => err instanceof BearerError && /wrong type/.test(err.message));
    }
  });

  test('challenges stay valid HTTP header values whatever the message', () => {
    const header = bearerChallenge('notes', new BearerError('invalid_token', 'revoked — by "admin" \\ näh', 'lecture:données'));
    assert.match(header, /^[\x20-\x7E]+$/);
    assert.doesNotThrow(() => new Headers({ 'www-authenticate': header }));
    assert.match(header, /error_description="revoked \? by 'admin' \/ n\?h"/);
  });

  describe('DPoP-bound tokens (RFC 9449)', () => {
    let server: Server;
    let api: string;
    let as: oauth.AuthorizationServer;
    let key: KeyPair;
    let bound: string;

    before(async () => {
      const app = new Koa<AuthState>();
      const verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience });
      // Listening first: the guard is told the API's public origin, which names the port.
      let handle: ReturnType<Koa['callback']> = async () => {};
      server = createServer((req, res) => handle(req, res));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      api = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      app.use(requireAccessToken({ verifier, realm: 'notes', dpop: { origin: api } }));
      app.use(requireScope('basic'));
      app.use((ctx) => {
        ctx.body = { sub: authOf(ctx).claims.sub, scheme: authOf(ctx).scheme };
      });
      handle = app.callback();
      as = await authorizationServer(t.issuer);
      key = await newKey();
      bound = (await boundClientCredentialsToken(as, 'svc', secret, key, { scope: 'basic' })).access_token;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('oauth4webapi calls an API guarded by requireAccessToken with its bound token', async () => {
      const dpop = dpopHandle('svc', key);
      for (const path of ['/notes', '/notes?page=2']) {
        const res = await oauth.protectedResourceRequest(bound, 'GET', new URL(`${api}${path}`), undefined, undefined, { ...insecure, DPoP: dpop });
        assert.equal(res.status, 200, await res.clone().text());
        assert.deepEqual(await res.json(), { sub: 'svc', scheme: 'DPoP' });
      }
      const posted = await oauth.protectedResourceRequest(bound, 'POST', new URL(`${api}/notes`), undefined, 'x', { ...insecure, DPoP: dpop });
      assert.equal(posted.status, 200);
    });

    test('the bound token as a bearer token: 401 with a DPoP challenge naming the algorithms', async () => {
      for (const headers of [{ authorization: `Bearer ${bound}` } as Record<string, string>, { authorization: `Bearer ${bound}`, dpop: await proof(key, { htm: 'GET', htu: `${api}/notes`, accessToken: bound }) }]) {
        const res = await fetch(`${api}/notes`, { headers });
        assert.equal(res.status, 401);
        assert.match(res.headers.get('www-authenticate') ?? '', new RegExp(`^DPoP realm="notes", error="invalid_token", error_description="[^"]+", algs="${DPOP_ALGORITHMS.join(' ')}"$`));
      }
    });

    test('a stolen token with a proof by the thief\'s key, or a replayed proof: 401', async () => {
      const thief = await fetch(`${api}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: await proof(await newKey(), { htm: 'GET', htu: `${api}/notes`, accessToken: bound }) } });
      assert.equal(thief.status, 401);
      const once = await proof(key, { htm: 'GET', htu: `${api}/notes`, accessToken: bound });
      assert.equal((await fetch(`${api}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: once } })).status, 200);
      const replay = await fetch(`${api}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: once } });
      assert.equal(replay.status, 401);
      assert.equal(((await replay.json()) as { error: string }).error, 'invalid_dpop_proof');
    });

    test('an API behind another name checks htu against its configured origin, not the Host header', async () => {
      const res = await fetch(`${api}/notes`, { headers: { authorization: `DPoP ${bound}`, host: 'evil.example', dpop: await proof(key, { htm: 'GET', htu: 'http://evil.example/notes', accessToken: bound }) } });
      assert.equal(res.status, 401);
    });

    test('without a configured origin, htu is checked against the request\'s scheme and host, never its Origin header', async () => {
      const app = new Koa<AuthState>();
      app.use(requireAccessToken({ verifier: createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience }), realm: 'notes', dpop: {} }));
      app.use((ctx) => { ctx.body = { ok: true }; });
      const other = createServer(app.callback());
      await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
      try {
        // A plain (non-CORS) request carries no Origin header: the proof for this very URL is good.
        const plain = await fetch(`${base}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: await proof(key, { htm: 'GET', htu: `${base}/notes`, accessToken: bound }) } });
        assert.equal(plain.status, 200, await plain.text());
        // A proof made for another API does not pass by naming that API in Origin.
        const forged = await fetch(`${base}/notes`, { headers: { authorization: `DPoP ${bound}`, origin: 'https://other-api.example', dpop: await proof(key, { htm: 'GET', htu: 'https://other-api.example/notes', accessToken: bound }) } });
        assert.equal(forged.status, 401);
      } finally {
        await new Promise<void>((resolve) => other.close(() => resolve()));
      }
    });

    test("dpop: 'required' accepts bound tokens only, and challenges in the DPoP scheme alone; 'allowed' takes both", async () => {
      const serve = async (dpop: 'required' | 'allowed') => {
        const app = new Koa<AuthState>();
        app.use(requireAccessToken({ verifier: createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience }), realm: 'notes', dpop }));
        app.use((ctx) => { ctx.body = { scheme: authOf(ctx).scheme }; });
        const server = createServer(app.callback());
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
      };
      const plain = await clientCredentialsToken(t, secret);
      const required = await serve('required');
      const allowed = await serve('allowed');
      try {
        const algs = `algs="${DPOP_ALGORITHMS.join(' ')}"`;
        // RFC 9449 §7.1: a bearer token at an API that takes bound tokens only.
        const bearer = await fetch(`${required.base}/notes`, { headers: { authorization: `Bearer ${plain}` } });
        assert.equal(bearer.status, 401);
        assert.equal(((await bearer.json()) as { error: string }).error, 'invalid_token');
        assert.match(bearer.headers.get('www-authenticate') ?? '', new RegExp(`^DPoP realm="notes", error="invalid_token", error_description="[^"]+", ${algs}$`));
        const none = await fetch(`${required.base}/notes`);
        assert.equal(none.headers.get('www-authenticate'), `DPoP realm="notes", ${algs}`);
        const good = await fetch(`${required.base}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: await proof(key, { htm: 'GET', htu: `${required.base}/notes`, accessToken: bound }) } });
        assert.deepEqual(await good.json(), { scheme: 'DPoP' });
        const badProof = await fetch(`${required.base}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: 'garbage' } });
        assert.match(badProof.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_dpop_proof"/);

        assert.deepEqual(await (await fetch(`${allowed.base}/notes`, { headers: { authorization: `Bearer ${plain}` } })).json(), { scheme: 'Bearer' });
        const boundAllowed = await fetch(`${allowed.base}/notes`, { headers: { authorization: `DPoP ${bound}`, dpop: await proof(key, { htm: 'GET', htu: `${allowed.base}/notes`, accessToken: bound }) } });
        assert.deepEqual(await boundAllowed.json(), { scheme: 'DPoP' });
      } finally {
        await required.close();
        await allowed.close();
      }
    });

    test('verifyAccessToken alone refuses a bound token: its proof needs the request', async () => {
      // cooldownMs: a verifier of its own, not the shared one holding the keys from before the rotation test.
      await assert.rejects(verifyAccessToken(bound, { issuer: t.issuer, audience: t.config.apiAudience, cooldownMs: 0 }), (err: unknown) => err instanceof DpopError && err.code === 'invalid_token');
      const claims = await createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience }).verify(bound, { allowSenderConstrained: true });
      assert.equal(typeof claims.cnf?.jkt, 'string');
    });

    test('a replay cache in Redis: a proof used at one instance of an API is refused at another; Redis down answers 503', { skip: requireRedis() }, async () => {
      const redis = await startRedis();
      const connections = [createClient({ url: redis.url }), createClient({ url: redis.url })];
      for (const c of connections) c.on('error', () => undefined);
      try {
        await Promise.all(connections.map((c) => c.connect()));
        // Two instances of one API behind a balancer, each with its own connection.
        const [first, second] = connections.map((c) => createDpopVerifier({ replayCache: createRedisReplayCache(c) }));
        const jkt = (decodeJwt(bound).cnf as { jkt: string }).jkt;
        const request = { method: 'GET', url: `${api}/x`, accessToken: bound, jkt, proof: await proof(key, { htm: 'GET', htu: `${api}/x`, accessToken: bound }) };
        await first!.verify(request);
        await assert.rejects(second!.verify(request), (err: unknown) => err instanceof DpopError && err.code === 'invalid_dpop_proof');
        await assert.rejects(first!.verify(request), (err: unknown) => err instanceof DpopError && err.code === 'invalid_dpop_proof');
        // A fresh proof is fine at either.
        await second!.verify({ ...request, proof: await proof(key, { htm: 'GET', htu: `${api}/x`, accessToken: bound }) });

        // Redis unreachable (a client that cannot set): refused for now, never accepted.
        const unreachable = createDpopVerifier({ replayCache: createRedisReplayCache({ set: () => Promise.reject(new Error('ECONNREFUSED')) }) });
        await assert.rejects(unreachable.verify({ ...request, proof: await proof(key, { htm: 'GET', htu: `${api}/x`, accessToken: bound }) }),
          (err: unknown) => err instanceof VerifierUnavailableError && err.status === 503);
      } finally {
        await Promise.all(connections.map((c) => c.disconnect().catch(() => undefined)));
        await redis.stop();
      }
    });

    test('refuses unsafe DPoP configurations; a full replay cache answers 503, never forgets', async () => {
      assert.throws(() => createDpopVerifier({ algorithms: ['HS256'] }), /asymmetric/);
      assert.throws(() => createDpopVerifier({ maxAgeSeconds: 3600 }), /maxAgeSeconds/);
      const cache = createMemoryReplayCache({ maxEntries: 2 });
      const verifier = createDpopVerifier({ replayCache: cache });
      const jkt = (decodeJwt(bound).cnf as { jkt: string }).jkt;
      const request = async () => ({ method: 'GET', url: `${api}/x`, accessToken: bound, jkt, proof: await proof(key, { htm: 'GET', htu: `${api}/x`, accessToken: bound }) });
      await verifier.verify(await request());
      await verifier.verify(await request());
      await assert.rejects(verifier.verify(await request()), (err: unknown) => err instanceof VerifierUnavailableError && err.status === 503);
    });
  });

  describe('Koa middleware', () => {
    let server: Server;
    let api: string;
    let verifier: AccessTokenVerifier;

    before(async () => {
      verifier = createAccessTokenVerifier({ issuer: t.issuer, audience: t.config.apiAudience });
      const app = new Koa<AuthState>();
      app.use(requireAccessToken({ verifier, realm: 'notes', public: ['GET /health', 'POST /signup', /^\/docs\//] }));
      app.use(async (ctx, next) => {
        if (ctx.path === '/admin') return requireScope('admin')(ctx, async () => { ctx.body = { admin: true }; });
        if (ctx.path === '/staff') return requireRole('admin')(ctx, async () => { ctx.body = { roles: authOf(ctx).claims.roles }; });
        if (ctx.path === '/whoami') return void (ctx.body = { sub: authOf(ctx).claims.sub, scopes: [...authOf(ctx).scopes] });
        if (['/health', '/signup', '/docs/api'].includes(ctx.path)) return void (ctx.body = { ok: true, signedIn: Boolean(ctx.state.auth) });
        return next();
      });
      server = createServer(app.callback());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      api = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const call = (path: string, token?: string, method = 'GET') => fetch(`${api}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

    test('public routes need no token; everything else does', async () => {
      assert.equal((await call('/health')).status, 200);
      assert.equal((await call('/signup', undefined, 'POST')).status, 200);
      assert.equal((await call('/docs/api')).status, 200);
      // Public for one method only.
      const getSignup = await call('/signup');
      assert.equal(getSignup.status, 401);
      const missing = await call('/whoami');
      assert.equal(missing.status, 401);
      // RFC 6750 §3.1: no error attribute when no token was sent; the body still says invalid_token. RFC 9449 §7.1: DPoP is offered too.
      assert.equal(missing.headers.get('www-authenticate'), `Bearer realm="notes", DPoP realm="notes", algs="${DPOP_ALGORITHMS.join(' ')}"`);
      assert.deepEqual(await missing.json(), { error: 'invalid_token', error_description: 'an access token is required' });
    });

    test('a valid token reaches the route with its claims', async () => {
      const token = await clientCredentialsToken(t, secret);
      const res = await call('/whoami', token);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { sub: 'svc', scopes: ['basic'] });
      assert.deepEqual(await (await call('/health', token)).json(), { ok: true, signedIn: true });
    });

    test('bad tokens: 401 invalid_token with a challenge, also on public routes', async () => {
      for (const path of ['/whoami', '/health']) {
        const res = await call(path, 'not.a.token');
        assert.equal(res.status, 401, path);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="notes", error="invalid_token", error_description="[^"]+"$/);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
      }
      const malformedHeader = await fetch(`${api}/whoami`, { headers: { authorization: 'Bearer not a token' } });
      assert.equal(malformedHeader.status, 400);
      assert.match(malformedHeader.headers.get('www-authenticate') ?? '', /error="invalid_request"/);
      // Another scheme is no credentials (RFC 6750 §3.1): 401 with a bare challenge, and public routes ignore it.
      const basic = await fetch(`${api}/whoami`, { headers: { authorization: 'Basic abc' } });
      assert.equal(basic.status, 401);
      assert.match(basic.headers.get('www-authenticate') ?? '', /^Bearer realm="notes", DPoP realm="notes", algs="[^"]+"$/);
      assert.equal((await fetch(`${api}/health`, { headers: { authorization: 'Basic abc' } })).status, 200);
    });

    test('requireScope: 403 insufficient_scope naming the scope', async () => {
      const res = await call('/admin', await clientCredentialsToken(t, secret, 'basic'));
      assert.equal(res.status, 403);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope", error_description="[^"]+", scope="admin"/);
      assert.equal(((await res.json()) as { error: string }).error, 'insufficient_scope');
      assert.equal((await call('/admin', await clientCredentialsToken(t, secret, 'admin'))).status, 200);
    });

    test('requireRole: the roles claim decides', async () => {
      const res = await call('/staff', await signedByTollgate(t, { roles: [] }));
      assert.equal(res.status, 403);
      assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      const ok = await call('/staff', await signedByTollgate(t, { roles: ['admin'] }));
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { roles: ['admin'] });
    });
  });
});
