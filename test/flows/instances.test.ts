// Two Tollgate processes (`npm start`) behind one issuer, sharing one
// PostgreSQL and one Redis, with no sticky sessions: whatever happens
// through one instance is honoured by the other.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, type Running } from '../support/processes.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';
import { UserAgent } from '../support/user-agent.ts';
import { newKey, proof } from '../support/dpop.ts';

const REDIRECT = 'https://app.example.test/callback';
const PASSWORD = 'correct horse battery';

describe('several instances (PostgreSQL + Redis)', { skip: requirePostgres() || requireRedis() }, () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let root: string;
  let a: Running;
  let b: Running;
  /** Instance A's and B's own addresses; the issuer (what a load balancer would serve) is A's. */
  let A: string;
  let B: string;
  let env: Record<string, string>;
  let webSecret: string;
  let opsSecret: string;
  let userId: string;

  before(async () => {
    postgres = await startPostgres();
    redis = await startRedis();
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-instances-'));
    const [portA, portB] = [await freePort(), await freePort()];
    A = `http://localhost:${portA}`;
    B = `http://localhost:${portB}`;
    // What must be the same on every instance: issuer, keys, cookie secrets, database, Redis.
    env = {
      ISSUER: A,
      DATABASE_URL: await createDatabase(postgres, 'instances'),
      REDIS_URL: redis.url,
      KEYS_DIR: path.join(root, 'keys'),
      COOKIE_SECRETS: 'a-cookie-secret-of-at-least-thirty-two-chars',
    };
    const web = await runCli(['clients', 'add', '--id', 'web', '--redirect-uri', REDIRECT, '--scope', 'openid email offline_access basic'], env);
    assert.equal(web.code, 0, web.stderr);
    webSecret = (JSON.parse(web.stdout) as { client_secret: string }).client_secret;
    const ops = await runCli(['clients', 'add', '--id', 'ops', '--grant-types', 'client_credentials', '--scope', 'admin'], env);
    opsSecret = (JSON.parse(ops.stdout) as { client_secret: string }).client_secret;
    const user = await runCli(['users', 'add', '--email', 'ada@example.test', '--password', PASSWORD], env);
    userId = (JSON.parse(user.stdout) as { id: string }).id;
    a = await startServer({ ...env, PORT: String(portA) });
    b = await startServer({ ...env, PORT: String(portB) });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
    postgres?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  const token = async (base: string, body: Record<string, string>, auth = basic('web', webSecret)) => {
    const res = await fetch(`${base}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };
  const introspect = async (base: string, value: string) => {
    const res = await fetch(`${base}/token/introspection`, { method: 'POST', headers: { authorization: basic('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: value }) });
    return ((await res.json()) as { active: boolean }).active;
  };
  const adminToken = async (base: string) => (await token(base, { grant_type: 'client_credentials', scope: 'admin', resource: `${A}/admin/v1` }, basic('ops', opsSecret))).body.access_token!;

  /** Signs in on A (authorization request, login form, consent), returning the code and the browser. */
  async function signInOnA(agent = new UserAgent()) {
    const verifier = oidc.randomPKCECodeVerifier();
    const params = new URLSearchParams({
      client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid email offline_access basic', prompt: 'consent', state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    let page = await agent.navigate(`${A}/auth?${params}`, {}, REDIRECT);
    if (page.body.includes('name="password"')) page = await agent.submit(page, '/login', { login: 'ada@example.test', password: PASSWORD }, REDIRECT);
    if (page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, REDIRECT);
    const code = new URL(page.url).searchParams.get('code');
    assert.ok(code, `no code: ${page.status} ${page.url}`);
    return { code, verifier, agent };
  }

  test('log in on A, exchange on B, refresh on A, revoke on B: A sees it inactive', async () => {
    const { code, verifier } = await signInOnA();
    const exchanged = await token(B, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    const refreshed = await token(A, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(await introspect(A, refreshed.body.access_token!), true);

    const revoke = await fetch(`${B}/token/revocation`, {
      method: 'POST', headers: { authorization: basic('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshed.body.access_token! }),
    });
    assert.equal(revoke.status, 200);
    assert.equal(await introspect(A, refreshed.body.access_token!), false);
  });

  test('an authorization code is redeemed once across instances', async () => {
    const { code, verifier } = await signInOnA();
    const body = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    const results = await Promise.all([token(A, body), token(B, body), token(A, body), token(B, body)]);
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    assert.ok(results.filter((r) => r.status !== 200).every((r) => r.body.error === 'invalid_grant'));
  });

  test('reuse detected on A revokes the family on B', async () => {
    const { code, verifier } = await signInOnA();
    const first = await token(A, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    const second = await token(B, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    assert.equal(second.status, 200);
    // The spent first token again, on A: theft.
    const replay = await token(A, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    assert.equal(replay.body.error, 'invalid_grant');
    const victim = await token(B, { grant_type: 'refresh_token', refresh_token: second.body.refresh_token! });
    assert.equal(victim.body.error, 'invalid_grant');
  });

  test('a DPoP proof used at A is refused at B; sent to both at once, one token only', async () => {
    const tokenWithProof = (base: string, dpop: string) => fetch(`${base}/token`, {
      method: 'POST', headers: { authorization: basic('ops', opsSecret), 'content-type': 'application/x-www-form-urlencoded', dpop },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin', resource: `${A}/admin/v1` }),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, string> }));
    const key = await newKey();
    // The proof names the public URL (the issuer's), as behind a balancer.
    const fresh = () => proof(key, { htm: 'POST', htu: `${A}/token` });
    const once = await fresh();
    const atA = await tokenWithProof(A, once);
    assert.equal(atA.status, 200, JSON.stringify(atA.body));
    assert.equal(atA.body.token_type, 'DPoP');
    const atB = await tokenWithProof(B, once);
    assert.equal(atB.status, 400);
    // oidc-provider's answer to a replayed proof ("DPoP proof JWT Replay detected", logged).
    assert.equal(atB.body.error, 'invalid_grant');
    // A fresh proof is fine at B: the refusal was the replay.
    assert.equal((await tokenWithProof(B, await fresh())).status, 200);

    const raced = await fresh();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => tokenWithProof(i % 2 ? A : B, raced)));
    assert.equal(answers.filter((a) => a.status === 200).length, 1, JSON.stringify(answers.map((a) => a.status)));
  });

  test('forced logout on B ends the session on A', async () => {
    const agent = new UserAgent();
    const { code, verifier } = await signInOnA(agent);
    const tokens = await token(A, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });

    const res = await fetch(`${B}/admin/v1/users/${userId}/logout`, { method: 'POST', headers: { authorization: `Bearer ${await adminToken(B)}` } });
    assert.equal(res.status, 200);

    // The browser's session on A is gone: prompt=none now answers login_required.
    const params = new URLSearchParams({
      client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const page = await agent.navigate(`${A}/auth?${params}`, {}, REDIRECT);
    assert.equal(new URL(page.url).searchParams.get('error'), 'login_required');
    assert.equal((await token(A, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token! })).body.error, 'invalid_grant');
    assert.equal(await introspect(A, tokens.body.access_token!), false);
  });

  test('a key rotation on one host reaches both instances within a second, without a restart', async () => {
    const before = await adminToken(A);
    const oldKid = decodeProtectedHeader(before).kid;
    const rotated = await runCli(['keys', 'rotate'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    const { added } = JSON.parse(rotated.stdout) as { added: string[] };
    const started = Date.now();
    const publishes = async (base: string) => ((await (await fetch(`${base}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.some((k) => added.includes(k.kid));
    let elapsed: number | undefined;
    while (Date.now() - started < 2_000 && elapsed === undefined) {
      if ((await publishes(A)) && (await publishes(B))) elapsed = Date.now() - started;
      else await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(elapsed !== undefined && elapsed < 1_000, `both instances published the new keys after ${elapsed} ms`);
    process.stdout.write(`# key rotation seen by both instances after ${elapsed} ms\n`);

    // B signs with the new key, A accepts it; the token from before verifies on B still.
    const after = await adminToken(B);
    assert.ok(added.includes(decodeProtectedHeader(after).kid!), 'B signs with a new key');
    assert.notEqual(decodeProtectedHeader(after).kid, oldKid);
    assert.equal((await fetch(`${A}/admin/v1/clients`, { headers: { authorization: `Bearer ${after}` } })).status, 200);
    assert.equal((await fetch(`${B}/admin/v1/clients`, { headers: { authorization: `Bearer ${before}` } })).status, 200);
  });

  test('a client change through B reaches A at once (pub/sub), a disabled account too', async () => {
    const admin = await adminToken(B);
    assert.equal((await fetch(`${A}/token/introspection`, {
      method: 'POST', headers: { authorization: basic('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: 'x' }),
    })).status, 200);
    const rotated = await fetch(`${B}/admin/v1/clients/web/secret`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    assert.equal(rotated.status, 200);
    const newSecret = ((await rotated.json()) as { client_secret: string }).client_secret;
    // The old secret was in use on A (so cached there); within one second A must refuse it.
    const probe = (secret: string) => fetch(`${A}/token/introspection`, {
      method: 'POST', headers: { authorization: basic('web', secret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: 'x' }),
    });
    const started = Date.now();
    let refusedAfter: number | undefined;
    while (Date.now() - started < 1_000 && refusedAfter === undefined) {
      if ((await probe(webSecret)).status === 401) refusedAfter = Date.now() - started;
    }
    assert.ok(refusedAfter !== undefined, 'A still accepts the rotated-away secret after 1 s');
    // Announced, not merely expired: A's cache entry was filled just before the rotation and would live ~1 s.
    assert.ok(refusedAfter < 300, `A refused the old secret only after ${refusedAfter} ms`);
    assert.equal((await probe(newSecret)).status, 200);
    webSecret = newSecret;

    const disabled = await fetch(`${B}/admin/v1/users/${userId}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ disabled: true }),
    });
    assert.equal(disabled.status, 200);
    const agent = new UserAgent();
    const params = new URLSearchParams({
      client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const login = await agent.navigate(`${A}/auth?${params}`, {}, REDIRECT);
    const refusedLogin = await agent.submit(login, '/login', { login: 'ada@example.test', password: PASSWORD }, REDIRECT);
    assert.ok(!refusedLogin.url.startsWith(REDIRECT), 'a disabled account signed in on A');
  });
});
