// Responses that carry tokens are never stored by any cache: `Cache-Control:
// no-store` and `Pragma: no-cache` (RFC 6749 §5.1), at the token endpoint
// and wherever else tokens or their contents are answered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { basicAuth } from '../support/admin.ts';
import { REDIRECT } from '../support/sign-in.ts';

const SECRET = 'ops-client-secret-long-enough-0123456789';

describe('token responses are never cached', () => {
  let t: TestTollgate;
  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'ops', secret: SECRET, grantTypes: ['client_credentials', 'authorization_code'], redirectUris: [REDIRECT], scope: 'openid basic' });
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const post = (path: string, params: Record<string, string>, secret = SECRET) => fetch(`${t.issuer}${path}`, {
    method: 'POST',
    headers: { authorization: basicAuth('ops', secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });

  const assertNeverCached = (res: Response, what: string) => {
    assert.equal(res.headers.get('cache-control'), 'no-store', what);
    assert.equal(res.headers.get('pragma'), 'no-cache', what);
  };

  test('the token endpoint: a token, and an error', async () => {
    const issued = await post('/token', { grant_type: 'client_credentials', scope: 'basic' });
    assert.equal(issued.status, 200);
    assertNeverCached(issued, 'token response');
    const refused = await post('/token', { grant_type: 'client_credentials', scope: 'basic' }, 'not-the-secret-at-all-0123456789');
    assert.equal(refused.status, 401);
    assertNeverCached(refused, 'token error');
  });

  test('introspection and pushed authorization requests', async () => {
    const { access_token: token } = (await (await post('/token', { grant_type: 'client_credentials', scope: 'basic' })).json()) as { access_token: string };
    const introspected = await post('/token/introspection', { token });
    assert.equal(introspected.status, 200);
    assertNeverCached(introspected, 'introspection response');
    const pushed = await post('/request', {
      client_id: 'ops', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    assert.equal(pushed.status, 201, await pushed.clone().text());
    assertNeverCached(pushed, 'pushed authorization response');
  });
});
