// server/federation/upstream-fetch.ts against a tiny local HTTP server: the
// token answers of GitHub and Naver made RFC 6749's (an `error` with HTTP 200
// becomes a 400), everything else passed through as it came (Naver's
// `expires_in: "3600"` too: openid-client reads it); the time budget; and the SSRF guard, which must hold
// even when an upstream request is the first fetch of the process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { CustomFetchOptions } from 'openid-client';
import { createUpstreamFetch } from '../../server/federation/upstream-fetch.ts';
import { ROOT } from '../support/processes.ts';

/** path → what the server answers there: [status, content-type, body], or a delay before a plain 200. */
const ANSWERS: Record<string, [number, string, string] | { delayMs: number }> = {
  '/github-error': [200, 'application/json; charset=utf-8', JSON.stringify({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' })],
  '/naver-token': [200, 'application/json;charset=utf-8', JSON.stringify({ access_token: 'at', token_type: 'bearer', expires_in: '3600', refresh_token: 'rt' })],
  '/standard-token': [200, 'application/json', JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 3600 })],
  '/error-with-token': [200, 'application/json', JSON.stringify({ access_token: 'at', token_type: 'Bearer', error: 'odd' })],
  '/odd-expiry': [200, 'application/json', JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 'soon' })],
  '/standard-error': [400, 'application/json', JSON.stringify({ error: 'invalid_grant' })],
  '/not-json': [200, 'application/json', '{"access_token": '],
  '/form': [200, 'application/x-www-form-urlencoded', 'error=bad_verification_code'],
  '/slow': { delayMs: 2_000 },
};

describe('upstream fetch: token answers in RFC 6749\'s shape, a time budget, the SSRF guard', () => {
  let server: Server;
  let base: string;
  const upstreamFetch = createUpstreamFetch({ allowPrivateNetworkFetch: true, timeoutMs: 500 });
  const post = (path: string) => upstreamFetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code&code=x', redirect: 'manual' } as CustomFetchOptions);
  const get = (path: string) => upstreamFetch(`${base}${path}`, { method: 'GET', headers: {}, redirect: 'manual' } as CustomFetchOptions);

  before(async () => {
    server = createServer((req, res) => {
      const answer = ANSWERS[req.url ?? ''];
      if (!answer) return void res.writeHead(404).end();
      if ('delayMs' in answer) return void setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), answer.delayMs);
      res.writeHead(answer[0], { 'content-type': answer[1] }).end(answer[2]);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

  test('a token request answered 200 with an `error` (GitHub): 400, the same members', async () => {
    const response = await post('/github-error');
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
  });

  test('a successful answer with `expires_in` as a string (Naver) passes through as it came', async () => {
    const response = await post('/naver-token');
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { access_token: 'at', token_type: 'bearer', expires_in: '3600', refresh_token: 'rt' });
  });

  test('standard answers, and ones it cannot read, pass through as they came', async () => {
    for (const [path, status, body] of [
      ['/standard-token', 200, ANSWERS['/standard-token']],
      ['/standard-error', 400, ANSWERS['/standard-error']],
      ['/error-with-token', 200, ANSWERS['/error-with-token']], // a token is a token: not turned into an error
      ['/odd-expiry', 200, ANSWERS['/odd-expiry']], // not digits: left for openid-client to refuse
      ['/not-json', 200, ANSWERS['/not-json']],
      ['/form', 200, ANSWERS['/form']],
    ] as const) {
      const response = await post(path);
      assert.equal(response.status, status, path);
      assert.equal(await response.text(), (body as [number, string, string])[2], path);
      assert.equal(response.headers.get('content-type'), (body as [number, string, string])[1], path);
    }
  });

  test('only token requests (POST) are rewritten: a GET with an `error` member is left alone', async () => {
    const response = await get('/github-error');
    assert.equal(response.status, 200);
    assert.equal((await response.json() as { error: string }).error, 'bad_verification_code');
  });

  test('an answer slower than the budget is abandoned at the budget', async () => {
    const started = Date.now();
    await assert.rejects(get('/slow'), (err: Error) => err.name === 'TimeoutError');
    const waited = Date.now() - started;
    assert.ok(waited >= 450 && waited < 1_500, `abandoned after ${waited} ms (budget 500 ms)`);
  });

  test('without ALLOW_PRIVATE_NETWORK_FETCH, loopback is refused, even as the first fetch of the process', () => {
    // A process of its own: here, fetch has been used already, which hid the case where the guard was never set up.
    const probe = `
      import { createServer } from 'node:http';
      import { createUpstreamFetch } from './server/federation/upstream-fetch.ts';
      const server = createServer((_req, res) => res.end('{}')).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const upstreamFetch = createUpstreamFetch({ allowPrivateNetworkFetch: false });
      const outcomes = [];
      for (let i = 0; i < 2; i += 1) {
        try { outcomes.push('answered ' + (await upstreamFetch('http://127.0.0.1:' + server.address().port + '/', { method: 'GET', headers: {} })).status); }
        catch (err) { outcomes.push('refused: ' + (err.cause?.message ?? err.message)); }
      }
      server.close();
      console.log(JSON.stringify(outcomes));`;
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    const outcomes = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as string[];
    assert.deepEqual(outcomes, ['refused: hostname resolves to a special-use IP address', 'refused: hostname resolves to a special-use IP address']);
  });
});
