// Interoperability with client libraries we did not write: openid-client
// discovers Tollgate, runs client_credentials, and jose verifies the access
// token against the published JWKS, on the embedded database and on a real
// PostgreSQL server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

const backends: Array<{ name: string; skip: string | false; url?: () => Promise<string> }> = [];
backends.push({ name: 'embedded', skip: false });
let pgServer: PostgresServer | undefined;
const pgSkip = requirePostgres();
backends.push({
  name: 'postgresql',
  skip: pgSkip,
  url: async () => {
    pgServer ??= await startPostgres();
    return createDatabase(pgServer, `interop_${Date.now()}`);
  },
});
after(() => pgServer?.stop());

for (const backend of backends) {
  describe(`interop (${backend.name})`, { skip: backend.skip }, () => {
    let t: TestTollgate;
    let machine: { client_secret: string };
    let admin: { client_secret: string };

    before(async () => {
      t = await startTestTollgate(backend.url ? { databaseUrl: await backend.url() } : {});
      machine = (await t.tollgate.clients.register({ id: 'machine', grantTypes: ['client_credentials'], scope: 'basic' })) as { client_secret: string };
      admin = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'openid basic admin' })) as { client_secret: string };
    });
    after(async () => {
      await t.close();
      await removeDirs(t.dirs);
    });

    const discover = (id: string, secret: string) =>
      oidc.discovery(new URL(t.issuer), id, secret, undefined, { execute: [oidc.allowInsecureRequests] });

    test('discovery document describes a code-only, PKCE-S256 provider', async () => {
      const config = await discover('machine', machine.client_secret);
      const meta = config.serverMetadata();
      assert.equal(meta.issuer, t.issuer);
      assert.equal(meta.jwks_uri, `${t.issuer}/jwks`);
      assert.deepEqual(meta.response_types_supported, ['code']);
      assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
      assert.ok(meta.scopes_supported?.includes('basic') && meta.scopes_supported.includes('admin'));
      assert.ok(!meta.token_endpoint_auth_methods_supported?.includes('client_secret_jwt'));
      assert.ok(!meta.id_token_signing_alg_values_supported?.some((alg) => alg.startsWith('HS') || alg === 'none'));
    });

    test('JWKS publishes public keys only, RS256, ES256 and EdDSA (Ed25519) to verify, RSA-OAEP-256 and ECDH-ES to encrypt to, with a Cache-Control header', async () => {
      const res = await fetch(`${t.issuer}/jwks`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/);
      const { keys } = (await res.json()) as { keys: Array<Record<string, unknown>> };
      assert.deepEqual(keys.map((k) => k.alg).sort(), ['ECDH-ES', 'ES256', 'EdDSA', 'RS256', 'RSA-OAEP-256']);
      assert.equal(keys.find((k) => k.alg === 'EdDSA')?.crv, 'Ed25519');
      for (const key of keys) {
        for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(key[priv], undefined, `private member ${priv} published`);
        assert.equal(key.use, String(key.alg).startsWith('ECDH') || String(key.alg).startsWith('RSA-OAEP') ? 'enc' : 'sig');
        assert.ok(typeof key.kid === 'string' && key.kid.length > 0);
      }
    });

    test('client_credentials issues an RFC 9068 JWT access token that verifies against /jwks', async () => {
      const config = await discover('machine', machine.client_secret);
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'basic' });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.equal(tokens.scope, 'basic');
      assert.ok(tokens.expires_in! > 0 && tokens.expires_in! <= 900);

      const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
        issuer: t.issuer, audience: t.config.apiAudience, typ: 'at+jwt', algorithms: ['ES256'],
      });
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(payload.client_id, 'machine');
      assert.equal(payload.sub, 'machine');
      assert.equal(payload.scope, 'basic');
      assert.ok(typeof payload.jti === 'string');
      assert.ok(payload.exp! - payload.iat! === t.config.ttl.accessToken);
    });

    test('a client gets admin only when registered for it', async () => {
      const ops = await oidc.clientCredentialsGrant(await discover('ops', admin.client_secret), { scope: 'basic admin' });
      assert.equal(ops.scope, 'basic admin');
      // No user behind a client_credentials token: it never carries the userinfo scopes.
      const withOpenid = await oidc.clientCredentialsGrant(await discover('ops', admin.client_secret), { scope: 'openid basic' });
      assert.equal(decodeJwt(withOpenid.access_token).scope, 'basic');
      await assert.rejects(
        oidc.clientCredentialsGrant(await discover('machine', machine.client_secret), { scope: 'basic admin' }),
        (err: oidc.ResponseBodyError) => err.error === 'invalid_scope',
      );
    });

    test('a wrong secret is invalid_client, and the secret is not stored in the clear', async () => {
      await assert.rejects(
        oidc.clientCredentialsGrant(await discover('machine', `${machine.client_secret}x`), { scope: 'basic' }),
        (err: oidc.ResponseBodyError) => err.error === 'invalid_client',
      );
      const stored = await t.tollgate.repositories.clients.find('machine');
      assert.ok(stored?.secretDigest && !JSON.stringify(stored).includes(machine.client_secret));
      assert.ok(Buffer.from(machine.client_secret, 'base64url').length >= 32, 'generated secret has ≥ 256 bits');
    });

    test('a client can have its own access token lifetime', async () => {
      const short = await t.tollgate.clients.register({ id: `short-${Date.now()}`, grantTypes: ['client_credentials'], accessTokenTtl: 120 });
      const tokens = await oidc.clientCredentialsGrant(await discover(String(short.client.client_id), short.client_secret!), { scope: 'basic' });
      const { exp, iat } = decodeJwt(tokens.access_token);
      assert.equal(exp! - iat!, 120);
      assert.equal(tokens.expires_in, 120);
    });

    test('an unknown resource indicator is invalid_target', async () => {
      await assert.rejects(
        oidc.clientCredentialsGrant(await discover('machine', machine.client_secret), { scope: 'basic', resource: 'https://elsewhere.example/api' }),
        (err: oidc.ResponseBodyError) => err.error === 'invalid_target',
      );
    });

    test('access tokens are ES256 and clients default to RS256 ID tokens (issued ones are checked in code-flow)', async () => {
      const tokens = await oidc.clientCredentialsGrant(await discover('machine', machine.client_secret), { scope: 'basic' });
      assert.equal(decodeProtectedHeader(tokens.access_token).alg, 'ES256');
      const client = await t.tollgate.provider.Client.find('machine');
      assert.equal(client?.idTokenSignedResponseAlg, 'RS256');
    });
  });
}
