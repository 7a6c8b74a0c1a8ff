// The example single-page app's server (examples/spa/server.ts), run as its
// own process the way the README runs it: it starts before its
// authorization server is reachable (discovery happens on first use), serves
// the page under its CSP, mounts the BFF, and refuses to start half-configured.
// The app itself, signed in, is driven in Chromium by test/e2e/bff.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../support/ports.ts';
import { cleanEnv, ROOT } from '../support/processes.ts';

const SERVER = 'examples/spa/server.ts';

function run(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', SERVER], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('example app server (examples/spa/server.ts)', () => {
  let child: ChildProcess;
  let origin: string;

  before(async () => {
    const port = await freePort();
    const deadIssuer = `http://localhost:${await freePort()}`;
    child = run({ ISSUER: deadIssuer, CLIENT_SECRET: 'x'.repeat(32), COOKIE_SECRET: 'y'.repeat(32), API_URL: `http://127.0.0.1:${await freePort()}`, PORT: String(port) });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the example did not start:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d;
        const started = /notes app on (http:\/\/localhost:\d+)/.exec(out);
        if (started) {
          clearTimeout(timer);
          origin = started[1]!;
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}:\n${out}`)));
    });
    assert.equal(origin, `http://localhost:${port}`);
  });
  after(() => {
    child?.kill('SIGTERM');
  });

  test('the page, its script and style under a CSP that allows this origin\'s scripts only; nothing else is served', async () => {
    for (const [path, type] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/app.css', 'text/css']] as const) {
      const res = await fetch(`${origin}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', new RegExp(`^${type}`));
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self';/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    const page = await (await fetch(origin)).text();
    assert.doesNotMatch(page, /<script>|<script(?![^>]*\ssrc=)[^>]*>|\son\w+=|<style/i, 'no inline script, handler or style');
    assert.equal((await fetch(`${origin}/server.ts`)).status, 404);
    assert.equal((await fetch(`${origin}/../package.json`)).status, 404);
  });

  test('the BFF is mounted: /bff/session says signed out; a sign-in with the authorization server down is 503, not a crash', async () => {
    assert.deepEqual(await (await fetch(`${origin}/bff/session`)).json(), { signedIn: false });
    const login = await fetch(`${origin}/bff/login`, { redirect: 'manual' });
    assert.equal(login.status, 503);
    assert.equal((await fetch(`${origin}/api/notes`)).status, 502, 'the API unreachable');
  });

  test('without ISSUER, CLIENT_SECRET or COOKIE_SECRET it says what to set and exits 2', async () => {
    const bare = run({ ISSUER: 'http://localhost:3000' });
    let err = '';
    bare.stderr!.on('data', (d: Buffer) => { err += d; });
    const code = await new Promise((resolve) => bare.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(err, /CLIENT_SECRET/);
  });
});
