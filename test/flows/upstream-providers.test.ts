// Upstream identity providers as data (issue 15, point 1), seen by an
// operator: the admin API's CRUD under /admin/v1/providers, its audit
// events, the client secret encrypted at rest under a key in KEYS_DIR
// (rotatable; a missing or wrong key file stops the start with a clear
// message), and the secret nowhere an operator or a log reader can see it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { adminCalls } from '../support/admin.ts';
import { tablesHolding } from '../support/personal-data.ts';
import { rotateSecretKeys, UPSTREAM_SECRET_KEYS_FILE, UpstreamSecretKeyError } from '../../server/keys/upstream-secret-keys.ts';
import { createTollgate } from '../../server/tollgate.ts';
import { createLogger } from '../../server/logger.ts';

/** Distinctive, so a grep for it finds nothing but a leak. */
const secret = (label: string) => `upstream-secret-${label}-${randomUUID()}`;

describe('upstream providers: admin API, encryption at rest, audit', () => {
  let t: TestTollgate;
  let admin: string;
  const secrets: string[] = [];
  const { machineToken, api } = adminCalls({ get issuer() { return t.issuer; } });
  const keyFile = () => path.join(t.dirs.keys, UPSTREAM_SECRET_KEYS_FILE);

  before(async () => {
    t = await startTestTollgate();
    const ops = await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'admin' });
    admin = (await machineToken('ops', ops.client_secret!, 'admin')).body.access_token!;
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
  });

  /** Every place an operator or a log reader could look: none holds a secret given to Tollgate. */
  const assertNoSecretLeaked = async () => {
    const logs = t.logs.join('\n');
    const trail = JSON.stringify((await t.tollgate.audit.page({ limit: 500 })).events);
    for (const s of secrets) {
      assert.ok(!logs.includes(s), 'a secret is in the log');
      assert.ok(!trail.includes(s), 'a secret is in the audit trail');
      assert.deepEqual(await tablesHolding(t, s), [], 'a secret is in the database in the clear');
    }
  };

  test('POST creates a preset provider: 201, the redirect URI to register, never the secret; GET lists and reads it', async () => {
    const clientSecret = secret('google');
    secrets.push(clientSecret);
    const created = await api('POST', '/providers', { token: admin, json: { id: 'google', type: 'google', client_id: 'tollgate.apps.googleusercontent.com', client_secret: clientSecret } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get('location'), '/admin/v1/providers/google');
    assert.equal(created.body.redirect_uri, `${t.issuer}/interaction/federated/google/callback`);
    assert.equal(created.body.issuer, 'https://accounts.google.com');
    assert.equal(created.body.protocol, 'oidc');
    assert.equal(created.body.name, 'Google');
    assert.equal(created.body.scope, 'openid email profile');
    assert.equal(created.body.auto_create, true);
    assert.equal(created.body.enabled, true);
    assert.ok(!created.text.includes(clientSecret));
    assert.ok(!('client_secret' in created.body));

    const list = await api('GET', '/providers', { token: admin });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((p: { id: string }) => p.id), ['google']);
    const one = await api('GET', '/providers/google', { token: admin });
    assert.deepEqual(one.body, created.body);
    assert.ok(!list.text.includes(clientSecret) && !one.text.includes(clientSecret));
    assert.equal((await api('GET', '/providers/nobody', { token: admin })).status, 404);
    await assertNoSecretLeaked();
  });

  test('the OAuth 2.0 presets carry their endpoints; every endpoint can be overridden (GitHub Enterprise, tests)', async () => {
    secrets.push(secret('github'), secret('naver'), secret('ghe'));
    const github = await api('POST', '/providers', { token: admin, json: { id: 'github', type: 'github', client_id: 'gh', client_secret: secrets.at(-3) } });
    assert.equal(github.status, 201, github.text);
    assert.equal(github.body.protocol, 'oauth2');
    assert.equal(github.body.issuer, null);
    assert.equal(github.body.authorization_endpoint, 'https://github.com/login/oauth/authorize');
    assert.equal(github.body.token_endpoint, 'https://github.com/login/oauth/access_token');
    assert.equal(github.body.userinfo_endpoint, 'https://api.github.com/user');
    const naver = await api('POST', '/providers', { token: admin, json: { id: 'naver', type: 'naver', client_id: 'nv', client_secret: secrets.at(-2) } });
    assert.equal(naver.body.authorization_endpoint, 'https://nid.naver.com/oauth2.0/authorize');
    assert.equal(naver.body.token_endpoint, 'https://nid.naver.com/oauth2.0/token');
    assert.equal(naver.body.userinfo_endpoint, 'https://openapi.naver.com/v1/nid/me');
    const ghe = await api('POST', '/providers', {
      token: admin,
      json: {
        id: 'ghe', type: 'github', name: 'GitHub Enterprise', client_id: 'ghe', client_secret: secrets.at(-1), auto_create: false,
        authorization_endpoint: 'https://git.example.test/login/oauth/authorize', token_endpoint: 'https://git.example.test/login/oauth/access_token',
        userinfo_endpoint: 'http://127.0.0.1:8123/api/v3/user',
      },
    });
    assert.equal(ghe.status, 201, ghe.text);
    assert.equal(ghe.body.token_endpoint, 'https://git.example.test/login/oauth/access_token');
    assert.equal(ghe.body.auto_create, false);
    // What the sign-in flow will get: the secret in the clear, GitHub's e-mail API beside the user API.
    const resolved = await t.tollgate.providers.resolve('ghe');
    assert.equal(resolved?.clientSecret, secrets.at(-1));
    assert.equal(resolved?.emailsEndpoint, 'http://127.0.0.1:8123/api/v3/user/emails');
    assert.equal((await t.tollgate.providers.resolve('github'))?.emailsEndpoint, 'https://api.github.com/user/emails');
  });

  test('validation: each bad field named, by its API name; a taken id is 409', async () => {
    const post = (json: Record<string, unknown>) => api('POST', '/providers', { token: admin, json: { client_id: 'x', client_secret: 'not-kept-anywhere', ...json } });
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ id: 'corp', type: 'oidc' }, 'issuer', /required for type oidc/],
      [{ id: 'corp', type: 'oidc', issuer: 'http://idp.example.test' }, 'issuer', /must use https/],
      [{ id: 'corp', type: 'oidc', issuer: 'https://idp.example.test/?tenant=1' }, 'issuer', /query/],
      [{ id: 'corp', type: 'oidc', issuer: 'https://idp.example.test#x' }, 'issuer', /fragment/],
      [{ id: 'corp', type: 'oidc', issuer: 'https://idp.example.test', token_endpoint: 'https://user:pw@idp.example.test/token' }, 'token_endpoint', /user name or password/],
      [{ id: 'corp', type: 'oidc', issuer: 'https://idp.example.test', jwks_uri: 'ftp://idp.example.test/jwks' }, 'jwks_uri', /https/],
      [{ id: 'gh2', type: 'github', issuer: 'https://github.com' }, 'issuer', /no issuer/],
      [{ id: 'Bad_Id', type: 'google' }, 'id', /lower-case/],
      [{ id: 'x'.repeat(41), type: 'google' }, 'id', /lower-case/],
      [{ id: 'fb', type: 'facebook' }, 'type', /one of/],
      [{ id: 'corp', type: 'google', client_id: '' }, 'client_id', /required/],
      [{ id: 'corp', type: 'google', name: 'a\u0000b' }, 'name', /control characters/],
    ];
    for (const [json, field, message] of cases) {
      const res = await post(json);
      assert.equal(res.status, 400, `${JSON.stringify(json)}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(res.body.fields?.[field] ?? '', message, `${field} of ${JSON.stringify(json)}: ${res.text}`);
    }
    assert.equal((await post({ id: 'corp', type: 'google', unknown: 1 })).status, 400);
    // Plain http to this machine is for development and tests.
    const local = await post({ id: 'local', type: 'oidc', issuer: 'http://127.0.0.1:9999' });
    assert.equal(local.status, 201, local.text);
    const again = await post({ id: 'local', type: 'oidc', issuer: 'http://127.0.0.1:9999' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'conflict');
  });

  test('PATCH renames, disables, switches account creation and rotates the secret; audited without the secret', async () => {
    const rotated = secret('rotated');
    secrets.push(rotated);
    const res = await api('PATCH', '/providers/google', { token: admin, json: { name: 'Google Workspace', enabled: false, auto_create: false, scope: 'openid email', client_secret: rotated } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.name, 'Google Workspace');
    assert.equal(res.body.enabled, false);
    assert.equal(res.body.auto_create, false);
    assert.equal(res.body.scope, 'openid email');
    assert.ok(!res.text.includes(rotated));
    assert.equal((await t.tollgate.providers.resolve('google'))?.clientSecret, rotated);
    assert.equal((await api('PATCH', '/providers/google', { token: admin, json: { issuer: 'https://evil.example.test' } })).status, 400, 'the issuer is not changed in place');
    assert.equal((await api('PATCH', '/providers/nobody', { token: admin, json: { name: 'x' } })).status, 404);

    const [updated] = (await t.tollgate.audit.page({ type: 'admin.provider.updated', limit: 1 })).events;
    const details = updated?.details as { provider_id: string; before: { name: string }; after: { name: string }; client_secret_changed: boolean };
    assert.equal(updated?.actor, 'ops');
    assert.equal(details.provider_id, 'google');
    assert.equal(details.before.name, 'Google');
    assert.equal(details.after.name, 'Google Workspace');
    assert.equal(details.client_secret_changed, true);
    const [created] = (await t.tollgate.audit.page({ type: 'admin.provider.created', limit: 10 })).events.filter((e) => (e.details as { provider_id?: string }).provider_id === 'google');
    assert.ok(created, 'the creation is audited');
    await assertNoSecretLeaked();
  });

  test('DELETE: refused (409) while identities are linked, unless unlink_identities=true; audited; then 404', async () => {
    const account = await t.tollgate.accounts.create({ email: 'linked@example.test', password: 'correct horse battery' });
    await t.tollgate.repositories.linkedIdentities.link({ providerId: 'naver', upstreamSub: 'naver-123', accountId: account.id, email: 'linked@example.test', emailVerified: true });
    const refused = await api('DELETE', '/providers/naver', { token: admin });
    assert.equal(refused.status, 409, refused.text);
    assert.match(refused.body.error_description, /1 linked identity: disable it instead/);
    const removed = await api('DELETE', '/providers/naver?unlink_identities=true', { token: admin });
    assert.equal(removed.status, 204, removed.text);
    assert.deepEqual(await t.tollgate.repositories.linkedIdentities.listByAccount(account.id), []);
    assert.equal((await api('GET', '/providers/naver', { token: admin })).status, 404);
    assert.equal((await api('DELETE', '/providers/naver', { token: admin })).status, 404);
    assert.equal((await api('DELETE', '/providers/github?unlink_identities=maybe', { token: admin })).status, 400);
    const [deleted] = (await t.tollgate.audit.page({ type: 'admin.provider.deleted', limit: 1 })).events;
    assert.deepEqual([(deleted?.details as { provider_id: string }).provider_id, (deleted?.details as { unlinked_identities: number }).unlinked_identities], ['naver', 1]);
  });

  test('the providers routes need an admin token; they are in the OpenAPI document', async () => {
    assert.equal((await api('GET', '/providers')).status, 401);
    assert.equal((await api('POST', '/providers', { json: { id: 'x' } })).status, 401);
    const document = (await api('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.keys(document.paths['/providers'] ?? {}).sort(), ['get', 'post']);
    assert.deepEqual(Object.keys(document.paths['/providers/{id}'] ?? {}).sort(), ['delete', 'get', 'patch']);
  });

  test('at rest: a JWE (dir, A256GCM) naming its key; the key file is 0600; a copied ciphertext does not decrypt for another provider', async () => {
    const [row] = await t.tollgate.database.query<{ client_secret_encrypted: string }>("SELECT client_secret_encrypted FROM upstream_provider WHERE id = 'github'");
    const header = decodeProtectedHeader(row!.client_secret_encrypted);
    const file = JSON.parse(await readFile(keyFile(), 'utf8')) as { keys: Array<{ kid: string }> };
    assert.deepEqual([header.alg, header.enc, header.kid, header.pid], ['dir', 'A256GCM', file.keys[0]!.kid, 'github']);
    assert.equal((await stat(keyFile())).mode & 0o777, 0o600);
    // The GitHub secret pasted onto the Enterprise provider's row: bound to its provider, it does not decrypt there.
    await t.tollgate.database.execute("UPDATE upstream_provider SET client_secret_encrypted = $1 WHERE id = 'ghe'", [row!.client_secret_encrypted]);
    await assert.rejects(t.tollgate.providers.resolve('ghe'), UpstreamSecretKeyError);
    await t.tollgate.providers.update('ghe', { clientSecret: secrets.find((s) => s.includes('-ghe-'))! });
  });

  test('rotation: a new key encrypts from then on, older rows still decrypt, re-encrypt moves them to the new key', async () => {
    const before = await t.tollgate.providers.resolve('github');
    const { added, keys } = await rotateSecretKeys(t.dirs.keys);
    assert.equal(keys[0], added);
    assert.equal(keys.length, 2);
    assert.equal((await t.tollgate.providers.resolve('github'))?.clientSecret, before?.clientSecret, 'encrypted under the old key, still readable');
    const fresh = secret('after-rotation');
    secrets.push(fresh);
    const created = await api('POST', '/providers', { token: admin, json: { id: 'kakao', type: 'kakao', client_id: 'kk', client_secret: fresh } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.issuer, 'https://kauth.kakao.com');
    const kidOf = async (id: string) => decodeProtectedHeader((await t.tollgate.database.query<{ c: string }>('SELECT client_secret_encrypted AS c FROM upstream_provider WHERE id = $1', [id]))[0]!.c).kid;
    assert.equal(await kidOf('kakao'), added);
    assert.notEqual(await kidOf('github'), added);

    const report = await t.tollgate.providers.reencrypt();
    assert.equal(report.key, added);
    assert.ok(report.reencrypted.includes('github') && !report.reencrypted.includes('kakao'), JSON.stringify(report));
    assert.equal(await kidOf('github'), added);
    assert.equal((await t.tollgate.providers.resolve('github'))?.clientSecret, before?.clientSecret);
    await assertNoSecretLeaked();
  });

  test('a start without the key file, or with another one, or with a malformed one, stops with a message naming the provider and the file', async () => {
    await t.close();
    const original = await readFile(keyFile(), 'utf8');
    const start = () => createTollgate(t.config, createLogger({ logLevel: 'silent' }), { janitor: false, watchKeys: false });
    const refusal = async (pattern: RegExp) => {
      await assert.rejects(start(), (err: Error) => {
        assert.ok(err instanceof UpstreamSecretKeyError, String(err));
        assert.match(err.message, pattern);
        assert.ok(!secrets.some((s) => err.message.includes(s)));
        assert.ok(!err.message.includes(JSON.parse(original).keys[0].k), 'never key material');
        return true;
      });
    };
    try {
      await rm(keyFile());
      await refusal(/provider "github" is encrypted with key "[^"]+", which .*upstream-secret-keys\.json does not hold/);
      await rotateSecretKeys(t.dirs.keys); // a different file, with a kid of its own
      await refusal(/does not hold: restore that file/);
      // The same kid, other key material: the ciphertext does not verify.
      const wrong = JSON.parse(original) as { keys: Array<{ k: string }> };
      for (const key of wrong.keys) key.k = Buffer.alloc(32, 7).toString('base64url');
      await writeFile(keyFile(), JSON.stringify(wrong), { mode: 0o600 });
      await refusal(/does not decrypt with key/);
      await writeFile(keyFile(), '{ not json', { mode: 0o600 });
      await refusal(/is not JSON: restore it/);
    } finally {
      await writeFile(keyFile(), original, { mode: 0o600 });
    }
    // The CLI opens the same database without the check, so that it can set secrets again.
    const cli = await createTollgate(t.config, createLogger({ logLevel: 'silent' }), { janitor: false, watchKeys: false, checkUpstreamSecrets: false });
    await cli.close();
    t = await startTestTollgate({ dirs: t.dirs });
    assert.ok((await t.tollgate.providers.resolve('github'))?.clientSecret.startsWith('upstream-secret-github-'));
  });
});
