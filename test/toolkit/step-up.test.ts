// requireAcr (RFC 9470, OAuth 2.0 Step Up Authentication Challenge Protocol)
// as an API gets it: imported as `tollgate/resource-server` (the built
// package export), in a Koa app, with access tokens signed here by jose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type CryptoKey } from 'jose';
import Koa from 'koa';
import {
  ACR_MFA, ACR_SFA, InsufficientUserAuthenticationError, authOf, createAccessTokenVerifier, requireAccessToken, requireAcr, type AuthState,
} from 'tollgate/resource-server';
import { ROOT } from '../support/processes.ts';

const ISSUER = 'https://id.example.test';
const AUDIENCE = 'https://api.example.test';

describe('resource-server toolkit: requireAcr (step-up)', () => {
  let key: CryptoKey;
  let server: Server;
  let base: string;

  before(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
    const verifier = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks });
    const app = new Koa<AuthState>();
    app.use(requireAccessToken({ verifier, realm: AUDIENCE }));
    const guards: Record<string, Koa.Middleware<AuthState>> = {
      '/payments': requireAcr(ACR_MFA),
      '/either': requireAcr(ACR_MFA, 'urn:example:hardware'),
      '/recent': requireAcr({ maxAge: 300 }),
      '/recent-mfa': requireAcr({ acrValues: [ACR_MFA], maxAge: 60 }),
    };
    app.use(async (ctx, next) => {
      const guard = guards[ctx.path];
      return guard ? guard(ctx, next) : next();
    });
    app.use((ctx) => {
      const { claims } = authOf(ctx);
      ctx.body = { acr: claims.acr ?? null, amr: claims.amr ?? null };
    });
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const now = () => Math.floor(Date.now() / 1000);
  const token = (claims: JWTPayload) => new SignJWT({ client_id: 'app', scope: 'basic', jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('user-1').setIssuedAt().setExpirationTime('5m')
    .sign(key);
  const call = async (path: string, claims: JWTPayload) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${await token(claims)}` } });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as Record<string, unknown> };
  };

  test('the built export has requireAcr, InsufficientUserAuthenticationError, ACR_MFA and ACR_SFA', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', "const m = await import('tollgate/resource-server'); console.log(JSON.stringify([typeof m.requireAcr, typeof m.InsufficientUserAuthenticationError, m.ACR_MFA, m.ACR_SFA]))"], { cwd: ROOT });
    assert.deepEqual(JSON.parse(stdout), ['function', 'function', 'urn:tollgate:mfa', 'urn:tollgate:sfa']);
    assert.equal(ACR_MFA, 'urn:tollgate:mfa');
    assert.equal(ACR_SFA, 'urn:tollgate:sfa');
  });

  test('a token whose acr is acceptable passes, and its acr and amr reach the route', async () => {
    const ok = await call('/payments', { acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], auth_time: now() - 10 });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] });
    assert.equal((await call('/either', { acr: 'urn:example:hardware' })).status, 200);
    assert.equal((await call('/unguarded', { acr: ACR_SFA })).status, 200, 'routes without requireAcr take any sign-in');
  });

  test('a password-only token (or none at all) is 401 insufficient_user_authentication naming the acr_values to ask for (RFC 9470 §3)', async () => {
    for (const claims of [{ acr: ACR_SFA, amr: ['pwd'] }, {}, { acr: 'urn:tollgate:MFA' }]) {
      const refused = await call('/payments', claims);
      assert.equal(refused.status, 401, JSON.stringify(claims));
      assert.equal(refused.challenge,
        `Bearer realm="${AUDIENCE}", error="insufficient_user_authentication", error_description="this requires a sign-in with a second factor", acr_values="urn:tollgate:mfa"`);
      assert.deepEqual(refused.body, { error: 'insufficient_user_authentication', error_description: 'this requires a sign-in with a second factor' });
    }
    const either = await call('/either', { acr: ACR_SFA });
    assert.equal(either.status, 401);
    assert.match(either.challenge!, /, acr_values="urn:tollgate:mfa urn:example:hardware"$/, 'in order of preference');
  });

  test('maxAge: a sign-in older than it, or without auth_time, is 401 with max_age; the whole requirement is in the challenge', async () => {
    assert.equal((await call('/recent', { auth_time: now() - 100 })).status, 200);
    for (const claims of [{ auth_time: now() - 301 }, {}]) {
      const stale = await call('/recent', claims);
      assert.equal(stale.status, 401);
      assert.equal(stale.challenge,
        `Bearer realm="${AUDIENCE}", error="insufficient_user_authentication", error_description="this requires a sign-in within the last 300 seconds", max_age="300"`);
    }
    assert.equal((await call('/recent-mfa', { acr: ACR_MFA, auth_time: now() - 5 })).status, 200);
    const weakAndStale = await call('/recent-mfa', { acr: ACR_MFA, auth_time: now() - 120 });
    assert.equal(weakAndStale.status, 401);
    assert.match(weakAndStale.challenge!, /error="insufficient_user_authentication", .*acr_values="urn:tollgate:mfa", max_age="60"$/);
    assert.match((await call('/recent-mfa', { acr: ACR_SFA, auth_time: now() })).challenge!, /second factor.*acr_values="urn:tollgate:mfa", max_age="60"$/);
  });

  test('acr, amr or auth_time of the wrong type make the token invalid (401 invalid_token), never a crash', async () => {
    for (const claims of [{ acr: 2 }, { acr: [ACR_MFA] }, { amr: 'pwd' }, { amr: ['pwd', 1] }, { auth_time: 'yesterday' }]) {
      const bad = await call('/payments', claims);
      assert.equal(bad.status, 401, JSON.stringify(claims));
      assert.equal(bad.body.error, 'invalid_token', JSON.stringify(claims));
    }
  });

  test('a requirement that cannot be met is refused when the app is built, not at the first request', () => {
    assert.throws(() => requireAcr(), TypeError);
    assert.throws(() => requireAcr(''), TypeError);
    assert.throws(() => requireAcr({ acrValues: [] }), TypeError);
    assert.throws(() => requireAcr({ maxAge: -1 }), TypeError);
    assert.throws(() => requireAcr({ maxAge: 1.5 }), TypeError);
    assert.ok(new InsufficientUserAuthenticationError('x', [ACR_MFA]).status === 401);
  });
});
