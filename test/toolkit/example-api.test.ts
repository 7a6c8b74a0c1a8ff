// The example API of the README (examples/notes-api.ts), run as its own
// process the way a user runs it, against a running Tollgate, with tokens
// people get by signing in through the hosted pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';
import { freePort } from '../support/ports.ts';
import { cleanEnv, ROOT } from '../support/processes.ts';

const PASSWORD = 'correct horse battery';

describe('example API (examples/notes-api.ts)', () => {
  let t: TestTollgate;
  let api: string;
  let child: ChildProcess;
  const tokenOf = new Map<string, string>();

  before(async () => {
    t = await startTestTollgate();
    await t.tollgate.clients.register({ id: 'notes-web', public: true, redirectUris: [REDIRECT], scope: 'openid basic admin', firstParty: true });
    await t.tollgate.accounts.create({ email: 'ada@acme.example', password: PASSWORD, roles: ['admin'], organisation: 'acme' });
    await t.tollgate.accounts.create({ email: 'hank@globex.example', password: PASSWORD, roles: ['admin'], organisation: 'globex' });
    await t.tollgate.accounts.create({ email: 'uma@acme.example', password: PASSWORD, organisation: 'acme' });
    for (const email of ['ada@acme.example', 'hank@globex.example', 'uma@acme.example']) {
      const { tokens } = await signIn(t, { clientId: 'notes-web', email, password: PASSWORD, scope: 'openid basic admin' });
      tokenOf.set(email, tokens.access_token);
    }

    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'examples/notes-api.ts'], {
      cwd: ROOT, env: cleanEnv({ ISSUER: t.issuer, API_AUDIENCE: t.config.apiAudience, PORT: String(port) }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`the example did not start:\n${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d;
        if (out.includes('notes API on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}:\n${out}`)));
    });
  });

  after(async () => {
    child?.kill('SIGTERM');
    await t.close();
    await removeDirs(t.dirs);
  });

  const call = (path: string, email?: string, init: RequestInit = {}) =>
    fetch(`${api}${path}`, { ...init, headers: { ...(email ? { authorization: `Bearer ${tokenOf.get(email)}` } : {}), ...(init.headers as Record<string, string>) } });

  test('health is public; notes need a token', async () => {
    assert.equal((await call('/health')).status, 200);
    const res = await call('/notes');
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
  });

  test('basic: each person reads and writes their own notes', async () => {
    const posted = await call('/notes', 'uma@acme.example', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'buy milk' }) });
    assert.equal(posted.status, 201);
    assert.deepEqual(await (await call('/notes', 'uma@acme.example')).json(), { notes: ['buy milk'] });
    assert.deepEqual(await (await call('/notes', 'ada@acme.example')).json(), { notes: [] });
  });

  test("an organisation's admin sees their own organisation's members, and no other's", async () => {
    const own = await call('/orgs/acme/members', 'ada@acme.example');
    assert.equal(own.status, 200);
    assert.deepEqual(await own.json(), { organisation: 'acme', members: ['ada@acme.example', 'grace@acme.example'] });
    const other = await call('/orgs/globex/members', 'ada@acme.example');
    assert.equal(other.status, 403);
    assert.match(other.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    assert.equal((await call('/orgs/globex/members', 'hank@globex.example')).status, 200);
  });

  test('a member without the admin role has no admin scope in the token, and is refused', async () => {
    const res = await call('/orgs/acme/members', 'uma@acme.example');
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="admin"/);
  });
});
