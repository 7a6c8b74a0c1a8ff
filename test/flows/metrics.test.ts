// Prometheus metrics: served on METRICS_PORT only (the public port answers
// 404), in Prometheus' text format, and every counter moves by exactly the
// number of things done: token responses, refresh rotations and reuse,
// sign-ins, throttled attempts, back-channel logout deliveries, rows the
// janitor purged. Labels stay bounded: route names and patterns, never a
// path, a client id or an account.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as oidc from 'openid-client';
import { freePort } from '../support/ports.ts';
import { cleanEnv, ROOT, runCli, startServer, type Running } from '../support/processes.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { authorizationRequest, relyingParty, REDIRECT, signIn } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';

interface Sample { name: string; labels: Record<string, string>; value: number }

/**
 * Prometheus text exposition format 0.0.4, strictly: every line a comment
 * (# HELP / # TYPE) or `name{label="value",...} value`; every sample's
 * family declared by a TYPE line before it. Throws on anything else.
 */
function parsePrometheus(text: string): Sample[] {
  const typed = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
  // Values as Prometheus reads them (Go's ParseFloat): NaN in any case (prom-client writes "Nan"), ±Inf.
  const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?\\})? (-?[0-9.eE+-]+|[Nn][Aa][Nn]|[+-]Inf)(?: -?\\d+)?$`);
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      if (comment[1] === 'TYPE') {
        assert.match(comment[3]!, /^(counter|gauge|histogram|summary|untyped)$/, line);
        typed.set(comment[2]!, comment[3]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    const family = [name, name.replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => typed.has(n));
    assert.ok(family, `no TYPE before ${name}`);
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name, labels, value: /^nan$/i.test(m[3]!) ? Number.NaN : Number(m[3]!.replace('Inf', 'Infinity')) });
  }
  return samples;
}

/** The value of one sample (0 when absent: a counter not yet moved). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found?.value ?? 0;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const PASSWORD = 'correct horse battery staple';

describe('metrics through `npm start` with METRICS_PORT', () => {
  let root: string;
  let env: Record<string, string>;
  let server: Running;
  let secret: string;
  let metricsUrl: string;
  let issuer: string;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-metrics-'));
    env = { PORT: String(await freePort()), METRICS_PORT: String(await freePort()), DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    issuer = `http://localhost:${env.PORT}`;
    metricsUrl = `http://localhost:${env.METRICS_PORT}/metrics`;
    const added = await runCli(['clients', 'add', '--id', 'svc', '--grant-types', 'client_credentials', '--scope', 'basic'], env);
    assert.equal(added.code, 0, added.stderr);
    secret = (JSON.parse(added.stdout) as { client_secret: string }).client_secret;
    server = await startServer(env);
  });
  after(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const scrape = async () => {
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    return parsePrometheus(await res.text());
  };

  test('the public port has no /metrics; the metrics port has nothing else', async () => {
    assert.equal((await fetch(`${issuer}/metrics`)).status, 404);
    assert.equal((await fetch(`http://localhost:${env.METRICS_PORT}/`)).status, 404);
    assert.equal((await fetch(`http://localhost:${env.METRICS_PORT}/.well-known/openid-configuration`)).status, 404);
    assert.match(server.output(), /"msg":"metrics listening"/);
  });

  test('Prometheus text with our metrics and the default process metrics', async () => {
    const res = await fetch(metricsUrl);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    const samples = parsePrometheus(await res.text());
    const names = new Set(samples.map((s) => s.name));
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes',
      'tollgate_database_pool_connections_in_use', 'tollgate_database_pool_waiting', 'tollgate_signing_key_age_seconds']) {
      assert.ok(names.has(name), `${name} is exposed`);
    }
    const age = valueOf(samples, 'tollgate_signing_key_age_seconds');
    assert.ok(age >= 0 && age < 600, `keys generated at this first start: ${age} s old`);
    assert.ok(!names.has('tollgate_redis_up'), 'no Redis configured: no redis_up that would read as an outage');
  });

  test('5 client_credentials grants: tokens issued +5, token requests answered 200 +5', async () => {
    const before = await scrape();
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic('svc', secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=basic',
      });
      assert.equal(res.status, 200);
    }
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    assert.equal(delta('tollgate_tokens_issued_total', { grant_type: 'client_credentials' }), 5);
    assert.equal(delta('tollgate_http_request_duration_seconds_count', { route: 'token', status: '200' }), 5);
    assert.ok(!after.some((s) => Object.values(s.labels).some((v) => v.includes('svc'))), 'no client id in any label');
  });

  test('METRICS_PORT equal to PORT is refused: the public port never serves metrics', () => {
    const r = spawnSync('npm', ['start', '--silent'], { cwd: ROOT, env: cleanEnv({ ...env, PORT: '39999', METRICS_PORT: '39999' }), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /METRICS_PORT: must differ from PORT/);
  });
});

describe('metrics: what each counter counts', () => {
  let t: TestTollgate;
  let svcSecret: string;
  let receiver: Server;
  const webSecret = 'web-secret-for-the-metrics-test-0123456789';
  const otherSecret = 'other-secret-for-the-metrics-test-0123456789';

  before(async () => {
    // Back-channel logout receivers on loopback: /ok answers 200, /fail 500.
    const port = await freePort();
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(req.url === '/ok' ? 200 : 500).end());
    });
    await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
    t = await startTestTollgate({ env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    svcSecret = (await t.tollgate.clients.register({ id: 'svc', grantTypes: ['client_credentials'], scope: 'basic' })).client_secret!;
    const scope = 'openid offline_access basic';
    await t.tollgate.clients.register({ id: 'web', secret: webSecret, redirectUris: [REDIRECT], scope, backchannelLogoutUri: `http://127.0.0.1:${port}/ok` });
    await t.tollgate.clients.register({ id: 'other', secret: otherSecret, redirectUris: [REDIRECT], scope, backchannelLogoutUri: `http://127.0.0.1:${port}/fail` });
    await t.tollgate.accounts.create({ email: 'ada@example.test', password: PASSWORD });
    await t.tollgate.accounts.create({ email: 'bob@example.test', password: PASSWORD });
  });
  after(async () => {
    receiver?.close();
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  const read = async () => parsePrometheus(await t.tollgate.metrics.registry.metrics());
  /** Runs `work`, then returns how much each asked-for sample moved. */
  const moved = async (work: () => Promise<void>) => {
    const before = await read();
    await work();
    const after = await read();
    return (name: string, labels: Record<string, string> = {}) => valueOf(after, name, labels) - valueOf(before, name, labels);
  };
  const failedSignIn = async (email: string) => {
    const agent = new UserAgent();
    const login = await agent.navigate((await authorizationRequest(await relyingParty(t, 'web', webSecret), { scope: 'openid' })).url.href, {}, REDIRECT);
    return agent.submit(login, '/login', { login: email, password: 'not the password' }, REDIRECT);
  };

  test('2 failed sign-ins +2, a successful one +1; a refresh rotates +1; its replay is a reuse detection +1', async () => {
    let tokens!: Awaited<ReturnType<typeof signIn>>;
    const delta = await moved(async () => {
      for (let i = 0; i < 2; i++) assert.equal((await failedSignIn('ada@example.test')).status, 401);
      tokens = await signIn(t, { clientId: 'web', secret: webSecret, email: 'ada@example.test', password: PASSWORD, scope: 'openid offline_access basic' });
      const first = tokens.tokens.refresh_token!;
      await oidc.refreshTokenGrant(tokens.config, first);
      await assert.rejects(oidc.refreshTokenGrant(tokens.config, first), (err: { error?: string }) => err.error === 'invalid_grant');
    });
    assert.equal(delta('tollgate_sign_ins_total', { result: 'failure', method: 'password' }), 2);
    assert.equal(delta('tollgate_sign_ins_total', { result: 'success', method: 'password' }), 1);
    assert.equal(delta('tollgate_tokens_issued_total', { grant_type: 'authorization_code' }), 1);
    assert.equal(delta('tollgate_tokens_issued_total', { grant_type: 'refresh_token' }), 1);
    assert.equal(delta('tollgate_refresh_token_rotations_total'), 1);
    assert.equal(delta('tollgate_refresh_token_reuse_detected_total'), 1);
    assert.equal(delta('tollgate_http_request_duration_seconds_count', { route: '/interaction/:uid/login', status: '401' }), 2);
    assert.equal(delta('tollgate_http_request_duration_seconds_count', { route: 'token', status: '400' }), 1, 'the replayed refresh');
  });

  test('back-channel logout deliveries by result: one received, one refused', async () => {
    const delta = await moved(async () => {
      // Two sessions of bob's, one with each client.
      await signIn(t, { clientId: 'web', secret: webSecret, email: 'bob@example.test', password: PASSWORD, scope: 'openid basic' });
      await signIn(t, { clientId: 'other', secret: otherSecret, email: 'bob@example.test', password: PASSWORD, scope: 'openid basic' });
      await t.tollgate.sessions.endEverything((await t.tollgate.accounts.idForEmail('bob@example.test'))!);
    });
    assert.equal(delta('tollgate_backchannel_logout_deliveries_total', { result: 'success' }), 1);
    assert.equal(delta('tollgate_backchannel_logout_deliveries_total', { result: 'error' }), 1);
  });

  test('janitor: rows purged by kind, as many as the pass removed', async () => {
    for (let i = 0; i < 3; i++) await t.tollgate.repositories.oidcModels.upsert('Interaction', `metrics-expired-${i}`, {}, 1);
    await new Promise((r) => setTimeout(r, 1_100));
    let removed = 0;
    const delta = await moved(async () => {
      removed = await t.tollgate.janitor!.sweep();
    });
    assert.ok(removed >= 3);
    const kinds = ['oidc_models', 'login_counters', 'revoked_tokens', 'session_devices', 'audit_events'];
    assert.equal(kinds.reduce((sum, kind) => sum + delta('tollgate_janitor_purged_rows_total', { kind }), 0), removed);
    assert.ok(delta('tollgate_janitor_purged_rows_total', { kind: 'oidc_models' }) >= 3);
  });

  test('throttled attempts: the login form and client authentication, one each', async () => {
    // The account's limit is 10 failures in the window: the 11th attempt is refused before its password is checked.
    const login = await moved(async () => {
      for (let i = 0; i < 10; i++) assert.equal((await failedSignIn('nobody@example.test')).status, 401);
      assert.equal((await failedSignIn('nobody@example.test')).status, 429);
    });
    assert.equal(login('tollgate_throttled_attempts_total', { kind: 'login' }), 1);
    assert.equal(login('tollgate_sign_ins_total', { result: 'failure', method: 'password' }), 10);
    // An address's limit is 20 failed client authentications: the 21st is answered 429.
    const clientAuth = await moved(async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) {
        statuses.push((await fetch(`${t.issuer}/token`, {
          method: 'POST',
          headers: { authorization: basic('svc', 'a wrong secret'), 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        })).status);
      }
      assert.deepEqual(statuses, [...Array(20).fill(401), 429]);
    });
    assert.equal(clientAuth('tollgate_throttled_attempts_total', { kind: 'client_authentication' }), 1);
    assert.equal(clientAuth('tollgate_http_request_duration_seconds_count', { route: 'token', status: '429' }), 1);
  });

  test('labels are bounded: route names and patterns, no path, id or e-mail', async () => {
    const samples = await read();
    const routes = new Set(samples.filter((s) => s.labels.route).map((s) => s.labels.route!));
    for (const route of routes) assert.match(route, /^([a-z_.]+|\/[a-z/:._-]*)$/i, `route label ${route}`);
    assert.ok(routes.has('/interaction/:uid/login'));
    const values = samples.flatMap((s) => Object.values(s.labels));
    for (const secretish of ['ada@example.test', 'bob@example.test', 'nobody@example.test', 'svc', 'web', 'other', '127.0.0.1']) {
      assert.ok(!values.some((v) => v.includes(secretish)), `no label holds ${secretish}`);
    }
    assert.ok(values.every((v) => v.length <= 40), 'no long (generated) value in a label');
  });
});

describe('metrics: PostgreSQL pool and Redis', { skip: requirePostgres() || requireRedis() }, () => {
  let postgres: PostgresServer;
  let redis: RedisServer;
  let t: TestTollgate;
  before(async () => {
    postgres = await startPostgres();
    redis = await startRedis();
    t = await startTestTollgate({ databaseUrl: await createDatabase(postgres, 'metrics'), env: { REDIS_URL: redis.url } });
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await redis?.stop();
    postgres?.stop();
  });

  test('pool gauges are read at scrape time; redis_up follows the connection', async () => {
    const read = async () => parsePrometheus(await t.tollgate.metrics.registry.metrics());
    let samples = await read();
    // Present, not merely 0 by absence (valueOf reads a missing sample as 0).
    for (const gauge of ['tollgate_redis_up', 'tollgate_database_pool_connections_in_use', 'tollgate_database_pool_waiting']) {
      assert.ok(samples.some((s) => s.name === gauge), `${gauge} is exposed`);
    }
    assert.equal(valueOf(samples, 'tollgate_redis_up'), 1);
    assert.equal(valueOf(samples, 'tollgate_database_pool_connections_in_use'), 0, 'nothing checked out between requests');
    assert.equal(valueOf(samples, 'tollgate_database_pool_waiting'), 0);
    // A connection held by hand is one in use.
    let inUse = 0;
    await t.tollgate.database.withSession(async () => {
      inUse = valueOf(await read(), 'tollgate_database_pool_connections_in_use');
    });
    assert.equal(inUse, 1);
    await redis.stop();
    try {
      const until = Date.now() + 5_000;
      do samples = await read(); while (valueOf(samples, 'tollgate_redis_up') !== 0 && Date.now() < until);
      assert.ok(samples.some((s) => s.name === 'tollgate_redis_up'), 'still exposed while Redis is down');
      assert.equal(valueOf(samples, 'tollgate_redis_up'), 0);
    } finally {
      await redis.start();
    }
    // And back to 1 once Redis is there again.
    const until = Date.now() + 10_000;
    do samples = await read(); while (valueOf(samples, 'tollgate_redis_up') !== 1 && Date.now() < until);
    assert.equal(valueOf(samples, 'tollgate_redis_up'), 1);
  });
});
