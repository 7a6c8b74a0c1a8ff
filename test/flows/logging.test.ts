// Request logging: one JSON line per request with method, path, status,
// duration and request id, and never a token, secret, password, cookie or
// authorization header, whatever flows through.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { signIn, relyingParty, authorizationRequest, REDIRECT } from '../support/sign-in.ts';
import { UserAgent } from '../support/user-agent.ts';

describe('request logging', () => {
  let t: TestTollgate;
  const secrets: string[] = [];
  before(async () => {
    t = await startTestTollgate();
    const machine = await t.tollgate.clients.register({ id: 'log-machine', grantTypes: ['client_credentials'], scope: 'basic' });
    secrets.push(machine.client_secret!);
    const webSecret = 'web-app-secret-for-the-logging-test-0123456789';
    secrets.push(webSecret);
    await t.tollgate.clients.register({ id: 'log-web', secret: webSecret, redirectUris: ['https://app.example.test/callback'] });
    const password = 'a very secret password 1234';
    secrets.push(password);
    await t.tollgate.accounts.create({ email: 'log@example.test', password });

    const config = await oidc.discovery(new URL(t.issuer), 'log-machine', machine.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const cc = await oidc.clientCredentialsGrant(config, { scope: 'basic' });
    secrets.push(cc.access_token);
    // client_secret_post puts the secret in the body rather than the header.
    const post = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'test-req-42' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'log-machine', client_secret: machine.client_secret!, scope: 'basic' }),
    });
    assert.equal(post.status, 200);
    secrets.push(((await post.json()) as { access_token: string }).access_token);

    // A failed sign-in with a different password: it must not be logged either.
    const wrongPassword = 'a wrong but secret password 9876';
    secrets.push(wrongPassword);
    {
      const agent = new UserAgent();
      const rp = await relyingParty(t, 'log-web', webSecret);
      const login = await agent.navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
      const failed = await agent.submit(login, '/login', { login: 'log@example.test', password: wrongPassword }, REDIRECT);
      assert.equal(failed.status, 401);
    }

    const { tokens, agent } = await signIn(t, { clientId: 'log-web', secret: webSecret, email: 'log@example.test', password, scope: 'openid email offline_access basic' });
    secrets.push(tokens.access_token, tokens.id_token!, tokens.refresh_token!);
    // The interaction cookies hold the interaction's uid, which is public in
    // its URL anyway (the signature cookie beside it is what is secret).
    const cookies = agent.cookieEntries().filter(([name]) => name !== '_interaction' && name !== '_interaction_resume');
    assert.ok(cookies.some(([name]) => name === '_session'));
    secrets.push(...cookies.map(([, value]) => value));
    secrets.push(Buffer.from(`log-machine:${machine.client_secret}`).toString('base64'));
    // Let the asynchronous log stream drain.
    await new Promise((r) => setTimeout(r, 50));
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('every request leaves one line with method, path, status, duration and request id', () => {
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    assert.ok(lines.length >= 8, `only ${lines.length} request lines`);
    for (const line of lines) {
      assert.equal(typeof line.method, 'string');
      assert.equal(typeof line.path, 'string');
      assert.equal(typeof line.status, 'number');
      assert.equal(typeof line.duration_ms, 'number');
      assert.equal(typeof line.req_id, 'string');
    }
    assert.ok(lines.some((l) => l.req_id === 'test-req-42' && l.path === '/token' && l.status === 200), 'an incoming X-Request-Id is kept');
    assert.ok(lines.some((l) => l.path === '/token' && l.status === 200));
  });

  test('sign-ins leave audit events (success and failure), as rows and as log lines, without what was typed', async () => {
    const account = await t.tollgate.repositories.accounts.findByEmail('log@example.test');
    const failures = await t.tollgate.repositories.audit.list({ type: 'login.failure' });
    const successes = await t.tollgate.repositories.audit.list({ type: 'login.success' });
    assert.equal(failures[0]?.accountId, account!.id);
    assert.equal(failures[0]?.clientId, 'log-web');
    assert.equal(successes[0]?.accountId, account!.id);
    assert.ok(t.logs.some((l) => l.includes('"audit":"login.failure"')));
    assert.ok(!JSON.stringify([...failures, ...successes]).includes('password'));
  });

  test('no secret, password, token, cookie or authorization header appears in any log line', () => {
    assert.ok(secrets.length >= 10);
    const all = t.logs.join('\n');
    for (const secret of secrets) {
      assert.ok(secret.length >= 16, 'a meaningful secret');
      assert.ok(!all.includes(secret), `log contains a secret: ${secret.slice(0, 6)}…`);
    }
    // (`authorization` is also oidc-provider's name for the /auth route, which request lines carry as their route.)
    assert.doesNotMatch(all.replaceAll('"route":"authorization"', ''), /authorization|cookie|password|client_secret|code=|access_token/i);
  });
});
