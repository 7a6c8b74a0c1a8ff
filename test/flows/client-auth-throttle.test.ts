// Failed client authentication at /token, /token/introspection and
// /token/revocation is throttled per address and per client id
// (CLIENT_AUTH_POLICY), answered 429 temporarily_unavailable with
// Retry-After, before any secret is compared; a success elsewhere resets
// nothing. On the embedded database and on Redis (the two counter stores).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';
import { authorizationServer, insecure } from '../support/dpop.ts';
import { basicAuth } from '../support/admin.ts';
import { CLIENT_AUTH_POLICY } from '../../server/services/login-throttle.ts';

// `request`: pushed authorization requests (RFC 9126) authenticate the client too.
const ENDPOINTS = ['token', 'token/introspection', 'token/revocation', 'request'] as const;
let redis: RedisServer | undefined;
after(() => redis?.stop());

const backends: Array<[string, string | false, () => Promise<Record<string, string>>]> = [
  ['embedded', false, async () => ({})],
  ['Redis', requireRedis(), async () => {
    redis ??= await startRedis();
    return { REDIS_URL: redis.url };
  }],
];

for (const [name, skip, env] of backends) {
  describe(`client authentication throttle (${name})`, { skip }, () => {
    let t: TestTollgate;
    const secrets: Record<string, string> = {};

    before(async () => {
      // Behind a proxy: the test chooses each request's address with X-Forwarded-For.
      t = await startTestTollgate({ env: { TRUST_PROXY: 'true', ...(await env()) } });
      for (const id of ['target', 'steady', 'roaming', 'lib']) {
        secrets[id] = (await t.tollgate.clients.register({ id, grantTypes: ['client_credentials'], scope: 'basic' })).client_secret!;
      }
    });
    after(async () => {
      await t.close();
      await removeDirs(t.dirs);
    });

    /** One request with client_secret_basic (or _post), from `address`. */
    const call = async (endpoint: (typeof ENDPOINTS)[number], clientId: string, secret: string, address: string, post = false) => {
      const params: Record<string, string> = endpoint === 'token' ? { grant_type: 'client_credentials', scope: 'basic' } : { token: 'x' };
      const res = await fetch(`${t.issuer}/${endpoint}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': address,
          ...(post ? {} : { authorization: basicAuth(clientId, secret) }),
        },
        body: new URLSearchParams(post ? { ...params, client_id: clientId, client_secret: secret } : params),
      });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json().catch(() => ({}))) as { error?: string; error_description?: string } };
    };
    const wrong = 'wrong-secret-0123456789-0123456789-0123456789';

    test('an address over its limit is refused, the right secret too; other addresses are not', async () => {
      const address = '198.51.100.7';
      for (let i = 0; i < CLIENT_AUTH_POLICY.maxIpFailures; i++) {
        const res = await call(ENDPOINTS[i % ENDPOINTS.length]!, `guess-${i}`, wrong, address);
        assert.equal(res.status, 401, `attempt ${i + 1}`);
        assert.equal(res.body.error, 'invalid_client');
      }
      const over = await call('token', 'target', wrong, address);
      assert.equal(over.status, 429);
      assert.equal(over.body.error, 'temporarily_unavailable');
      const retryAfter = Number(over.retryAfter);
      assert.ok(retryAfter > 0 && retryAfter <= CLIENT_AUTH_POLICY.windowSeconds, `Retry-After ${over.retryAfter}`);
      assert.match(over.body.error_description ?? '', /too many failed client authentications/);
      // Locked before any secret is compared: the right one is refused as well, at every endpoint.
      for (const endpoint of ENDPOINTS) assert.equal((await call(endpoint, 'target', secrets.target!, address)).status, 429, endpoint);
      assert.equal((await call('token', 'target', secrets.target!, '198.51.100.8')).status, 200);
    });

    test('a client id over its limit is refused from every address, by Basic and by post', async () => {
      for (let i = 0; i < CLIENT_AUTH_POLICY.maxClientFailures; i++) {
        // One failure per address: no address reaches its own limit.
        const res = await call(ENDPOINTS[i % 3]!, 'roaming', wrong, `203.0.113.${i + 1}`, i % 2 === 0);
        assert.equal(res.status, 401, `attempt ${i + 1}`);
      }
      assert.equal((await call('token/introspection', 'roaming', wrong, '203.0.113.200')).status, 429);
      // The right secret from a fresh address, sent in the body (client_secret_post): still refused while the window lasts.
      const right = await call('token', 'roaming', secrets.roaming!, '203.0.113.201', true);
      assert.equal(right.status, 429);
      assert.ok(Number(right.retryAfter) > 0);
      // Another client is not affected.
      assert.equal((await call('token', 'target', secrets.target!, '203.0.113.202')).status, 200);
    });

    test("a success from one address does not reset another address's count", async () => {
      const guesser = '192.0.2.50';
      for (let i = 0; i < CLIENT_AUTH_POLICY.maxIpFailures - 1; i++) assert.equal((await call('token', 'steady', wrong, guesser)).status, 401);
      // The client itself succeeds from its own address, several times.
      for (let i = 0; i < 3; i++) assert.equal((await call('token', 'steady', secrets.steady!, '192.0.2.60')).status, 200);
      assert.equal((await call('token', 'steady', wrong, guesser)).status, 401, 'the last failure within the limit');
      assert.equal((await call('token', 'steady', wrong, guesser)).status, 429, 'over the limit: the success elsewhere did not reset it');
    });

    test('oauth4webapi surfaces the refusal as temporarily_unavailable with status 429', async () => {
      const as = await authorizationServer(t.issuer);
      const client: oauth.Client = { client_id: 'lib' };
      // An address of its own, locked here: the test does not lean on another test's state.
      const address = '198.51.100.99';
      // One past the limit: the failure that finds the limit reached is the one that locks.
      for (let i = 0; i <= CLIENT_AUTH_POLICY.maxIpFailures; i++) await call('token', `guess-lib-${i}`, wrong, address);
      const headers = new Headers({ 'x-forwarded-for': address });
      const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secrets.lib!), { scope: 'basic' }, { ...insecure, headers });
      await assert.rejects(oauth.processClientCredentialsResponse(as, client, response), (err: unknown) => {
        assert.ok(err instanceof oauth.ResponseBodyError, String(err));
        assert.equal(err.error, 'temporarily_unavailable');
        assert.equal(err.status, 429);
        return true;
      });
    });
  });
}
