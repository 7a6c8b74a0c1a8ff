// Two Tollgate processes (`npm start`) behind one issuer, sharing one
// PostgreSQL and a real three-master Redis Cluster (REDIS_CLUSTER_NODES):
// the short-lived state is spread over the masters, each instance honours
// what happened through the other, a change announced on one reaches the
// other through sharded pub/sub, and nothing in the cluster lives forever.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { freePort } from '../support/ports.ts';
import { runCli, startServer, type Running } from '../support/processes.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedisCluster, type RedisCluster } from '../support/redis.ts';
import { UserAgent } from '../support/user-agent.ts';

const REDIRECT = 'https://app.example.test/callback';
const PASSWORD = 'correct horse battery';

describe('several instances on a Redis Cluster', { skip: requirePostgres() || requireRedis() }, () => {
  let postgres: PostgresServer;
  let cluster: RedisCluster;
  let root: string;
  let a: Running;
  let b: Running;
  let A: string;
  let B: string;
  let webSecret: string;
  let opsSecret: string;
  let userId: string;

  before(async () => {
    [postgres, cluster] = await Promise.all([startPostgres(), startRedisCluster()]);
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-redis-cluster-'));
    const [portA, portB] = [await freePort(), await freePort()];
    A = `http://localhost:${portA}`;
    B = `http://localhost:${portB}`;
    const env = {
      ISSUER: A,
      DATABASE_URL: await createDatabase(postgres, 'redis_cluster'),
      // One seed as host:port, one as a URL: the client discovers the third master itself.
      REDIS_CLUSTER_NODES: `127.0.0.1:${cluster.ports[0]},${cluster.nodes[1]}`,
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
    [a, b] = await Promise.all([startServer({ ...env, PORT: String(portA) }), startServer({ ...env, PORT: String(portB) })]);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await cluster?.stop();
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

  test('both instances are ready (every master answers)', async () => {
    for (const base of [A, B]) assert.equal((await fetch(`${base}/readyz`)).status, 200);
  });

  test('sign in on A, exchange the code on B, refresh on A and on B', async () => {
    const { code, verifier } = await signInOnA();
    const exchanged = await token(B, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    const onA = await token(A, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
    assert.equal(onA.status, 200, JSON.stringify(onA.body));
    const onB = await token(B, { grant_type: 'refresh_token', refresh_token: onA.body.refresh_token! });
    assert.equal(onB.status, 200, JSON.stringify(onB.body));
    assert.equal(await introspect(A, onB.body.access_token!), true);
  });

  test('an authorization code is redeemed once across instances', async () => {
    const { code, verifier } = await signInOnA();
    const body = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
    const results = await Promise.all([token(A, body), token(B, body), token(A, body), token(B, body)]);
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    assert.ok(results.filter((r) => r.status !== 200).every((r) => r.body.error === 'invalid_grant'));
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

  test('a client secret rotated through B is refused on A at once (sharded pub/sub)', async () => {
    const probe = (secret: string) => fetch(`${A}/token/introspection`, {
      method: 'POST', headers: { authorization: basic('web', secret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: 'x' }),
    });
    // The current secret in use on A, so cached there.
    assert.equal((await probe(webSecret)).status, 200);
    const rotated = await fetch(`${B}/admin/v1/clients/web/secret`, { method: 'POST', headers: { authorization: `Bearer ${await adminToken(B)}` } });
    assert.equal(rotated.status, 200);
    const newSecret = ((await rotated.json()) as { client_secret: string }).client_secret;
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
  });

  test('the short-lived state is spread over every master, and every tollgate:* key expires', async () => {
    const keysByNode = await cluster.keysOnEveryNode('tollgate:*');
    const all = keysByNode.flat();
    process.stdout.write(`# tollgate key kinds: ${[...new Set(all.map(({ key }) => key.split(':').slice(1, 3).join(':')))].sort().join(' ')}\n`);
    for (const kind of ['m:Session:', 'uid:Session:', 'a:Session:', 'g:AuthorizationCode:']) {
      assert.ok(all.some(({ key }) => key.startsWith(`tollgate:${kind}`)), `no tollgate:${kind}* key in the cluster`);
    }
    assert.ok(keysByNode.every((keys) => keys.length > 0), `keys per master: ${keysByNode.map((k) => k.length).join(', ')}`);
    assert.deepEqual(all.filter(({ ttl }) => ttl < 0), [], 'keys without a TTL');
    process.stdout.write(`# tollgate keys per master: ${keysByNode.map((k) => k.length).join(', ')}\n`);
  });

  test('a master down: what needs Redis answers 503, never 500, and /readyz says not ready; back without a restart', async () => {
    const authorize = async () => {
      const params = new URLSearchParams({
        client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 's',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const res = await fetch(`${A}/auth?${params}`, { redirect: 'manual' });
      return { status: res.status, body: await res.text() };
    };
    const statuses = async (n: number) => (await Promise.all(Array.from({ length: n }, authorize))).map((r) => r.status);
    await cluster.stopNode(2);
    try {
      const seen: number[] = [];
      // First while the other masters still count it as alive (its keys fail, theirs work), then once the cluster has declared it failed.
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        seen.push(...(await statuses(6)));
        await new Promise((r) => setTimeout(r, 250));
      }
      process.stdout.write(`# with a master down: ${JSON.stringify(Object.fromEntries([...new Set(seen)].map((s) => [s, seen.filter((x) => x === s).length])))}\n`);
      assert.ok(seen.every((s) => s === 303 || s === 503), `statuses: ${[...new Set(seen)].join(', ')}`);
      assert.ok(seen.includes(503));
      assert.equal((await fetch(`${A}/readyz`)).status, 503);
    } finally {
      await cluster.startNode(2);
    }
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (!ready && Date.now() < deadline) {
      ready = (await fetch(`${A}/readyz`)).status === 200 && (await statuses(6)).every((s) => s === 303);
      if (!ready) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(ready, 'not back within 10 s of the master\'s return');
    const { code, verifier } = await signInOnA();
    assert.equal((await token(B, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier })).status, 200);
  });
});
