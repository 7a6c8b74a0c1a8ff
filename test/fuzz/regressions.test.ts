// Defects the fuzz suite found, each pinned by the request that showed it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { encodeRequest, exchange } from './wire.ts';

describe('found by fuzzing', () => {
  let t: TestTollgate;
  let port: number;
  before(async () => {
    t = await startTestTollgate();
    port = Number(new URL(t.issuer).port);
  });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  const get = (target: string, host: string) =>
    exchange(port, encodeRequest({ method: 'GET', target, headers: [['Host', host]] }, host), 'GET');

  // oidc-provider builds its URLs from the request's origin (OIDCContext#urlFor:
  // new URL(path, ctx.href)), which throws on a Host that is not a host: the
  // answer was 500 server_error, with the stack in the log.
  test('a Host header that is not a host: 400 invalid_request, nothing logged as an error (was 500)', async () => {
    for (const host of ['\u0d04', 'a b', 'x/y', 'user@x', '[::1', 'localhost:99999', '%']) {
      for (const target of ['/.well-known/openid-configuration/', '/auth?client_id=x', '/token', '/healthz']) {
        const res = await get(target, Buffer.from(host, 'utf8').toString('latin1'));
        assert.equal(res?.status, 400, `${target} with Host ${JSON.stringify(host)}: ${res?.status} ${res?.body.toString()}`);
        assert.deepEqual(JSON.parse(res!.body.toString()), { error: 'invalid_request', error_description: 'the Host header is not a valid host' });
      }
    }
    assert.deepEqual(t.logs.filter((l) => l.includes('"level":50')), []);
  });

  test('hosts that are hosts still reach their routes', async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', 'xn--4ca.example']) {
      const res = await get('/healthz', host);
      assert.equal(res?.status, 200, `Host ${host}: ${res?.status}`);
    }
  });
});
