// Strict client registration (docs/clients.md) as operators and apps meet
// it: the admin API answers 400 with `fields` naming each refused URI, the
// CLI exits 2 naming the option, production refuses what development
// allows, clients stored before the rules keep working (with a warning at
// start), and native apps use RFC 8252's patterns end to end: a loopback
// redirect on another port than registered, and a private-use scheme.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls } from '../support/admin.ts';
import { UserAgent } from '../support/user-agent.ts';
import { runCli } from '../support/processes.ts';

const PASSWORD = 'correct horse battery';
const EMAIL = 'nat@example.test';

/** A body the admin API refuses, the field `fields` must name, and a pattern of its message. */
type Refusal = [body: Record<string, unknown>, field: string, reason: RegExp];

const REFUSED_REGISTRATIONS: Refusal[] = [
  [{ redirect_uris: ['http://app.example/cb'] }, 'redirect_uris.0', /https/],
  [{ redirect_uris: ['https://app.example/ok', 'https://user:pw@app.example/cb'] }, 'redirect_uris.1', /userinfo/],
  [{ redirect_uris: ['https://app.example/cb/../x'] }, 'redirect_uris.0', /dot-segment/],
  [{ redirect_uris: ['https://app.example/cb/%2e%2e/x'] }, 'redirect_uris.0', /dot-segment/],
  [{ redirect_uris: ['*'] }, 'redirect_uris.0', /wildcard/],
  [{ redirect_uris: ['https://*.app.example/cb'] }, 'redirect_uris.0', /wildcard/],
  [{ redirect_uris: ['https://app.example/cb'], post_logout_redirect_uris: ['http://app.example/bye'] }, 'post_logout_redirect_uris.0', /https/],
  [{ redirect_uris: ['https://app.example/cb'], post_logout_redirect_uris: ['https://app.example/../bye'] }, 'post_logout_redirect_uris.0', /dot-segment/],
  [{ redirect_uris: ['https://app.example/cb'], post_logout_redirect_uris: ['*'] }, 'post_logout_redirect_uris.0', /wildcard/],
  [{ redirect_uris: ['https://app.example/cb'], backchannel_logout_uri: 'https://app.example/logout#x' }, 'backchannel_logout_uri', /fragment/],
  [{ redirect_uris: ['https://app.example/cb'], backchannel_logout_uri: 'https://u:p@app.example/logout' }, 'backchannel_logout_uri', /userinfo/],
  [{ redirect_uris: ['com.example.app:/cb'] }, 'redirect_uris.0', /application_type native/],
  [{ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://localhost:8080/cb'] }, 'redirect_uris.0', /127\.0\.0\.1/],
  [{ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['myapp:/cb'] }, 'redirect_uris.0', /reverse-domain/],
  [{ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://app.example/cb'] }, 'redirect_uris.0', /loopback/],
];

describe('client registration rules', () => {
  let t: TestTollgate;
  let admin: string;
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });

  before(async () => {
    t = await startTestTollgate();
    const ops = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin basic' })).client_secret!;
    admin = (await machineToken('ops', ops, 'admin')).body.access_token!;
    await t.tollgate.accounts.create({ email: EMAIL, password: PASSWORD });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('admin API: each refused URI is a 400 whose `fields` names it, and nothing is stored', async () => {
    for (const [index, [body, field, reason]] of REFUSED_REGISTRATIONS.entries()) {
      const res = await api('POST', '/clients', { token: admin, json: { client_id: `bad-${index}`, ...body } });
      const label = JSON.stringify(body);
      assert.equal(res.status, 400, `${label}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_request', label);
      assert.match(String(res.body.fields?.[field]), reason, `${label}: ${res.text}`);
      assert.doesNotMatch(res.text, /pw@|u:p@/, 'a password in a URI is never echoed');
    }
    const ids = ((await api('GET', '/clients', { token: admin })).body.items as Array<{ client_id: string }>).map((c) => c.client_id);
    assert.deepEqual(ids.filter((id) => id.startsWith('bad-')), []);
  });

  test('admin API: PATCH is held to the same rules, and a refused change changes nothing', async () => {
    const created = await api('POST', '/clients', { token: admin, json: { client_id: 'patched', redirect_uris: ['https://app.example/cb'] } });
    assert.equal(created.status, 201, created.text);
    const patches: Refusal[] = [
      [{ redirect_uris: ['http://app.example/cb'] }, 'redirect_uris.0', /https/],
      [{ redirect_uris: ['https://app.example/cb', 'https://app.example/a/./b'] }, 'redirect_uris.1', /dot-segment/],
      [{ post_logout_redirect_uris: ['https://user@app.example/bye'] }, 'post_logout_redirect_uris.0', /userinfo/],
      [{ backchannel_logout_uri: 'https://app.example/logout#frag' }, 'backchannel_logout_uri', /fragment/],
      // Turning a web client native keeps its https URIs valid; a web client cannot take a private-use scheme.
      [{ redirect_uris: ['com.example.app:/cb'] }, 'redirect_uris.0', /native/],
    ];
    for (const [body, field, reason] of patches) {
      const res = await api('PATCH', '/clients/patched', { token: admin, json: body });
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(String(res.body.fields?.[field]), reason, res.text);
    }
    const read = await api('GET', '/clients/patched', { token: admin });
    assert.deepEqual(read.body.redirect_uris, ['https://app.example/cb']);
    assert.equal(read.body.backchannel_logout_uri, undefined);

    const native = await api('PATCH', '/clients/patched', { token: admin, json: { application_type: 'native', redirect_uris: ['com.example.app:/cb', 'http://127.0.0.1/cb'] } });
    assert.equal(native.status, 200, native.text);
    assert.equal(native.body.application_type, 'native');
  });

  test('admin API: a native client registers loopback IP literals and a private-use scheme', async () => {
    const res = await api('POST', '/clients', {
      token: admin,
      json: {
        client_id: 'desktop', application_type: 'native', token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]:8400/callback', 'com.example.desktop:/callback', 'https://desktop.example/callback'],
      },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.client.application_type, 'native');
  });

  /** Authorization request through the hosted pages (login, consent) until Tollgate redirects to something starting with `stopAt`. */
  async function authorize(clientId: string, redirectUri: string, stopAt: string) {
    const config = await oidc.discovery(new URL(t.issuer), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    let page = await agent.navigate(url.href, {}, stopAt);
    assert.equal(page.status, 200, `expected the login page, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    page = await agent.submit(page, '/login', { login: EMAIL, password: PASSWORD }, stopAt);
    if (page.status === 200 && page.body.includes('/confirm')) page = await agent.submit(page, '/confirm', {}, stopAt);
    assert.ok(page.url.startsWith(stopAt), `expected a redirect to ${stopAt}, got ${page.status} ${page.url} ${page.body.slice(0, 300)}`);
    return { config, callback: new URL(page.url), verifier, state };
  }

  test('native app: a loopback redirect on a port other than the registered one completes the code flow (RFC 8252 §7.3)', async () => {
    await t.tollgate.clients.register({ id: 'cli-app', public: true, applicationType: 'native', redirectUris: ['http://127.0.0.1:9999/callback', 'http://[::1]/callback'], scope: 'openid' });
    for (const redirectUri of ['http://127.0.0.1:53682/callback', 'http://[::1]:41234/callback']) {
      const { config, callback, verifier, state } = await authorize('cli-app', redirectUri, redirectUri);
      assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
      assert.ok(callback.searchParams.get('code'), callback.href);
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      assert.ok(tokens.access_token && tokens.id_token);
    }
    // Only the port is free: another path, or localhost, is refused with an error page, not a redirect.
    for (const other of ['http://127.0.0.1:53682/elsewhere', 'http://localhost:9999/callback']) {
      const res = await fetch(`${t.issuer}/auth?${new URLSearchParams({ client_id: 'cli-app', response_type: 'code', scope: 'openid', redirect_uri: other, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`, { redirect: 'manual' });
      assert.equal(res.headers.get('location'), null, other);
      assert.match(await res.text(), /redirect_uri/, other);
    }
  });

  test('native app: a private-use scheme redirect carries the code (RFC 8252 §7.1)', async () => {
    await t.tollgate.clients.register({ id: 'mobile-app', public: true, applicationType: 'native', redirectUris: ['com.example.app:/cb'], scope: 'openid' });
    const { config, callback, verifier, state } = await authorize('mobile-app', 'com.example.app:/cb', 'com.example.app:/cb?');
    assert.match(callback.href, /^com\.example\.app:\/cb\?code=/);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    assert.ok(tokens.access_token);
  });
});

describe('client registration rules: production, and clients stored before the rules', () => {
  test('NODE_ENV=production refuses http://localhost web redirects and an http back-channel receiver, which development accepts', async () => {
    const production = await startTestTollgate({ env: { NODE_ENV: 'production', ISSUER: 'https://id.example.test', COOKIE_SECRETS: 'p'.repeat(40) } });
    const development = await startTestTollgate();
    try {
      const register = (t: TestTollgate, id: string, more: object) => t.tollgate.clients.register({ id, redirectUris: ['https://app.example/cb'], ...more });
      for (const more of [{ redirectUris: ['http://localhost:5173/cb'] }, { redirectUris: ['http://127.0.0.1:5173/cb'] }, { backchannelLogoutUri: 'http://app.internal/logout' }, { postLogoutRedirectUris: ['http://localhost:5173/'] }]) {
        await assert.rejects(register(production, 'dev-app', more), (err: Error & { fields?: Record<string, string> }) => {
          assert.equal(err.name, 'ValidationError');
          assert.match(Object.values(err.fields ?? {}).join(), /NODE_ENV=production/);
          return true;
        }, JSON.stringify(more));
        await register(development, `dev-${Object.keys(more)[0]}-${Math.random().toString(36).slice(2)}`, more);
      }
      // Native loopback and private-use redirects are the standard for apps in production too.
      await production.tollgate.clients.register({ id: 'native', public: true, applicationType: 'native', redirectUris: ['http://127.0.0.1/cb', 'com.example.app:/cb'] });
    } finally {
      for (const t of [production, development]) {
        await t.close();
        await removeDirs(t.dirs);
      }
    }
  });

  test('a stored client that breaks the rules keeps working, is named in a warning at start, and its next update must fix it', async () => {
    let t = await startTestTollgate();
    const { dirs } = t;
    const port = new URL(t.issuer).port;
    try {
      // As an older Tollgate stored it (the library itself accepts it).
      await t.tollgate.repositories.clients.create({
        id: 'legacy', secretDigest: null,
        metadata: { grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://legacy.example/cb'], token_endpoint_auth_method: 'none', scope: 'openid' },
      });
      await t.close();
      t = await startTestTollgate({ dirs, port: Number(port) });
      const warning = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.client_id === 'legacy');
      assert.ok(warning, t.logs.join('\n'));
      assert.equal(warning.level, 40);
      assert.match(JSON.stringify(warning.fields), /redirect_uris\.0.*https/);

      // Still usable: the authorization endpoint shows the login page rather than an error.
      const res = await new UserAgent().navigate(`${t.issuer}/auth?${new URLSearchParams({ client_id: 'legacy', response_type: 'code', scope: 'openid', redirect_uri: 'http://legacy.example/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`);
      assert.equal(res.status, 200);
      assert.match(res.body, /name="password"/);

      await assert.rejects(t.tollgate.clients.update('legacy', { client_name: 'Legacy' }), (err: Error & { fields?: Record<string, string> }) => {
        assert.equal(err.name, 'ValidationError');
        assert.ok(err.fields?.['redirect_uris.0']);
        return true;
      });
      const fixed = await t.tollgate.clients.update('legacy', { client_name: 'Legacy', redirect_uris: ['https://legacy.example/cb'] });
      assert.deepEqual(fixed.after.redirect_uris, ['https://legacy.example/cb']);
    } finally {
      await t.close();
      await removeDirs(dirs);
    }
  });
});

describe('client registration rules: the CLI', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-registration-cli-'));
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('a refused URI exits 2 naming the option and what is wrong; a native app registers with --application-type native', async () => {
    const refused: Array<[string[], RegExp]> = [
      [['--redirect-uri', 'https://app.example/cb', '--redirect-uri', 'http://app.example/cb'], /--redirect-uri \(2nd\): must use https/],
      [['--redirect-uri', 'https://user:pw@app.example/cb'], /--redirect-uri \(1st\): must not contain a user name or password/],
      [['--redirect-uri', 'https://app.example/cb/%2E%2E/admin'], /--redirect-uri \(1st\): must not contain dot-segments/],
      [['--redirect-uri', 'https://app.example/cb', '--post-logout-redirect-uri', '*'], /--post-logout-redirect-uri \(1st\): must be exact/],
      [['--redirect-uri', 'https://app.example/cb', '--backchannel-logout-uri', 'https://app.example/logout#x'], /--backchannel-logout-uri: must not contain a fragment/],
      [['--public', '--application-type', 'native', '--redirect-uri', 'myapp:/cb'], /reverse-domain/],
      [['--public', '--application-type', 'tv', '--redirect-uri', 'https://app.example/cb'], /--application-type: must be web or native/],
    ];
    for (const [args, reason] of refused) {
      const r = await runCli(['clients', 'add', '--id', 'refused', ...args], env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, reason, args.join(' '));
      assert.doesNotMatch(r.stderr, /user:pw/);
      assert.equal(r.stdout, '');
    }
    const native = await runCli(['clients', 'add', '--id', 'desktop', '--public', '--application-type', 'native', '--redirect-uri', 'http://127.0.0.1/cb', '--redirect-uri', 'com.example.desktop:/cb'], env);
    assert.equal(native.code, 0, native.stderr);
    assert.equal((JSON.parse(native.stdout) as { client: { application_type: string } }).client.application_type, 'native');
    const list = JSON.parse((await runCli(['clients', 'list'], env)).stdout) as Array<{ client_id: string }>;
    assert.deepEqual(list.map((c) => c.client_id), ['desktop']);
  });

  test('a refused URI is reported before the database is opened: exit 2 even when it cannot be reached', async () => {
    // Port 1 on loopback: nothing listens, the connection would be refused.
    const r = await runCli(['clients', 'add', '--id', 'early', '--redirect-uri', 'http://app.example/cb'], { ...env, DATABASE_URL: 'postgres://app@127.0.0.1:1/tollgate' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--redirect-uri \(1st\): must use https/);
  });

  test('production refuses what development accepts: http://localhost for a web client', async () => {
    const args = ['clients', 'add', '--public', '--redirect-uri', 'http://localhost:5173/cb'];
    const production = await runCli([...args, '--id', 'spa-prod'], { ...env, NODE_ENV: 'production', ISSUER: 'https://id.example.test', COOKIE_SECRETS: 'p'.repeat(40) });
    assert.equal(production.code, 2, production.stderr);
    assert.match(production.stderr, /--redirect-uri \(1st\): must use https when NODE_ENV=production/);
    const development = await runCli([...args, '--id', 'spa-dev'], env);
    assert.equal(development.code, 0, development.stderr);
  });
});
