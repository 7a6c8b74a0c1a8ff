// JWKS and discovery are served from precomputed bytes: identical to what
// oidc-provider would answer, cacheable (ETag, Cache-Control), open to other
// origins, with the same headers and log line as every other response.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('precomputed documents', () => {
  let t: TestTollgate;
  before(async () => { t = await startTestTollgate(); });
  after(async () => {
    await t.close();
    await removeDirs(t.dirs);
  });

  test('discovery is the provider\'s own document, then served with an ETag and 304 on revalidation', async () => {
    const first = await get(`${t.issuer}/.well-known/openid-configuration`);
    const second = await get(`${t.issuer}/.well-known/openid-configuration`);
    assert.equal(first.status, 200);
    assert.deepEqual(JSON.parse(second.body), JSON.parse(first.body));
    const etag = String(second.headers.etag);
    assert.match(etag, /^".+"$/);
    assert.match(String(second.headers['cache-control']), /public, max-age=\d+/);
    assert.equal(second.headers['access-control-allow-origin'], '*');
    const revalidated = await get(`${t.issuer}/.well-known/openid-configuration`, { 'if-none-match': etag });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.body, '');
  });

  test('a request under another Host gets the same document, the issuer\'s (test/flows/host-header.test.ts)', async () => {
    const ours = await get(`${t.issuer}/.well-known/openid-configuration`);
    const foreign = await get(`${t.issuer}/.well-known/openid-configuration`, { host: 'evil.example' });
    assert.equal(JSON.parse(foreign.body).token_endpoint, `${t.issuer}/token`);
    assert.equal(foreign.headers.etag, ours.headers.etag);
  });

  test('the fast path carries the security headers, a request id and a log line', async () => {
    const res = await get(`${t.issuer}/jwks`, { 'x-request-id': 'jwks-probe-1' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['x-request-id'], 'jwks-probe-1');
    assert.equal(res.headers['content-type'], 'application/jwk-set+json; charset=utf-8', 'RFC 7517 §8.5, as the provider answers');
    await new Promise((r) => setTimeout(r, 20));
    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.req_id === 'jwks-probe-1');
    assert.equal(line?.path, '/jwks');
    assert.equal(line?.status, 200);
  });

  test('JWKS equals the provider\'s own key set', async () => {
    const ours = JSON.parse((await get(`${t.issuer}/jwks`)).body) as { keys: Array<Record<string, unknown>> };
    // The bare provider, on a port of its own, answering /jwks itself.
    const bare = createServer(t.tollgate.provider.callback());
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    try {
      const theirs = JSON.parse((await get(`http://127.0.0.1:${(bare.address() as { port: number }).port}/jwks`)).body) as { keys: unknown[] };
      assert.deepEqual(ours.keys, theirs.keys);
    } finally {
      bare.close();
    }
    // Signing keys, and the encryption keys request objects are encrypted to (keys/key-store.ts).
    for (const key of ours.keys) assert.ok(key.kid && key.alg && (key.use === 'sig' || key.use === 'enc'));
  });
});
