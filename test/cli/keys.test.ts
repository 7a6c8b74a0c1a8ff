// Signing-key rotation: `keys rotate` puts a new pair in front of the
// current one and drops anything older, `keys list` shows them without
// private members, and across a restart new tokens carry the new kid while
// tokens signed before the rotation still verify against /jwks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { runCli } from '../support/processes.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { loadOrCreateSigningKeys, rotateSigningKeys, SIGNING_KEYS_FILE } from '../../server/keys/key-store.ts';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

describe('tollgate keys', () => {
  let env: Record<string, string>;
  let root: string;
  let keysDir: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-keys-cli-'));
    keysDir = path.join(root, 'keys');
    // An unreachable database: the key commands must not open one.
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: keysDir, DATABASE_URL: 'postgres://tollgate@127.0.0.1:1/none' };
  });
  after(() => rm(root, { recursive: true, force: true }));

  const json = <T>(stdout: string) => JSON.parse(stdout) as T;
  const file = () => path.join(keysDir, SIGNING_KEYS_FILE);
  const stored = async () => json<{ keys: JWK[] }>(await readFile(file(), 'utf8')).keys;
  type Listed = { kid: string; alg: string; use: string; signing: boolean };

  test('rotate puts a new generation (RS256, ES256, EdDSA) first, keeps the previous one, and drops older ones', async () => {
    await loadOrCreateSigningKeys(keysDir); // what a first start does
    const first = await stored();
    assert.equal(first.length, 3);

    const r = await runCli(['keys', 'rotate'], env);
    assert.equal(r.code, 0, r.stderr);
    const rotated = json<{ added: string[]; retired: string[]; note: string }>(r.stdout);
    assert.equal(rotated.added.length, 3);
    assert.deepEqual(rotated.retired, []);
    assert.match(rotated.note, /within a second/);

    const keys = await stored();
    assert.deepEqual(keys.map((k) => k.kid), [...rotated.added, ...first.map((k) => k.kid)]);
    assert.deepEqual(keys.map((k) => k.alg), ['RS256', 'ES256', 'EdDSA', 'RS256', 'ES256', 'EdDSA']);
    assert.ok(keys.every((k) => k.use === 'sig' && typeof k.d === 'string'), 'private keys, as oidc-provider takes them');
    assert.equal((await stat(file())).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(keysDir), [SIGNING_KEYS_FILE], 'no temp file left behind');

    const list = await runCli(['keys', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(json<Listed[]>(list.stdout), keys.map((k, i) => ({ kid: k.kid, alg: k.alg, use: 'sig', signing: i < 3 })));
    for (const member of PRIVATE_MEMBERS) assert.ok(!list.stdout.includes(`"${member}"`), `keys list shows "${member}"`);

    const again = await runCli(['keys', 'rotate'], env);
    assert.equal(again.code, 0, again.stderr);
    const second = json<{ added: string[]; retired: string[] }>(again.stdout);
    assert.deepEqual(second.retired, first.map((k) => k.kid));
    assert.deepEqual((await stored()).map((k) => k.kid), [...second.added, ...rotated.added]);
    assert.equal((await stat(file())).mode & 0o777, 0o600);
  });

  test('with no key file yet, list is empty and rotate creates a fresh generation', async () => {
    const fresh = { ...env, KEYS_DIR: path.join(root, 'fresh-keys') };
    const list = await runCli(['keys', 'list'], fresh);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(json(list.stdout), []);
    const r = await runCli(['keys', 'rotate'], fresh);
    assert.equal(r.code, 0, r.stderr);
    const out = json<{ added: string[]; retired: string[] }>(r.stdout);
    assert.equal(out.added.length, 3);
    assert.deepEqual(out.retired, []);
    const listed = json<Listed[]>((await runCli(['keys', 'list'], fresh)).stdout);
    assert.deepEqual(listed.map((k) => [k.kid, k.alg, k.signing]), [[out.added[0], 'RS256', true], [out.added[1], 'ES256', true], [out.added[2], 'EdDSA', true]]);
  });

  test('after a rotation and a restart, new tokens carry the new kid and old tokens still verify', async () => {
    let t: TestTollgate | undefined = await startTestTollgate();
    const dirs = t.dirs;
    try {
      const { client_secret: secret } = await t.tollgate.clients.register({ id: 'svc', grantTypes: ['client_credentials'], scope: 'basic' });
      const token = async (issuer: string) => {
        const res = await fetch(`${issuer}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`svc:${secret!}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'basic' }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        return ((await res.json()) as { access_token: string }).access_token;
      };
      const issuer = t.issuer;
      const oldToken = await token(issuer);
      const oldKid = decodeProtectedHeader(oldToken).kid;
      await t.close();
      t = undefined;

      const { added } = await rotateSigningKeys(dirs.keys);
      const newEs256 = (await loadOrCreateSigningKeys(dirs.keys)).privateJwks.keys.find((k) => k.alg === 'ES256')!.kid;
      assert.ok(added.includes(newEs256!));

      t = await startTestTollgate({ dirs, port: Number(new URL(issuer).port) });
      assert.equal(t.issuer, issuer);
      const newToken = await token(t.issuer);
      const newKid = decodeProtectedHeader(newToken).kid;
      assert.notEqual(newKid, oldKid);
      assert.equal(newKid, newEs256);

      const published = ((await (await fetch(`${t.issuer}/jwks`)).json()) as { keys: JWK[] }).keys.map((k) => k.kid);
      assert.ok(published.includes(oldKid!) && published.includes(newKid!), `/jwks publishes ${published.join(', ')}`);

      const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
      for (const jwt of [oldToken, newToken]) {
        const verified: { payload: { client_id?: unknown } } = await jwtVerify(jwt, jwks, { issuer: t.issuer });
        assert.equal(verified.payload.client_id, 'svc');
      }
    } finally {
      await t?.close();
      await removeDirs(dirs);
    }
  });
});
