// Key rotation: `keys rotate` puts a new generation (two signing keys, two
// encryption keys) in front of the current one and drops anything older,
// `keys list` shows them without private members, and across a restart new
// tokens carry the new kid while tokens signed before the rotation still
// verify against /jwks. A key directory from before encryption keys gets
// them at the next start.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
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
  type Listed = { kid: string; alg: string; use: string; created: string | null; current: boolean; signing: boolean };
  const GENERATION = ['RS256', 'ES256', 'EdDSA', 'RSA-OAEP-256', 'ECDH-ES'];
  const USES = ['sig', 'sig', 'sig', 'enc', 'enc'];

  test('rotate puts a new generation (signing and encryption keys) first, keeps the previous one, and drops older ones', async () => {
    await loadOrCreateSigningKeys(keysDir); // what a first start does
    const first = await stored();
    assert.deepEqual(first.map((k) => k.alg), GENERATION);
    assert.deepEqual(first.map((k) => k.use), USES);
    assert.equal(first.find((k) => k.alg === 'RSA-OAEP-256')!.kty, 'RSA');
    assert.equal(first.find((k) => k.alg === 'ECDH-ES')!.crv, 'P-256');

    const r = await runCli(['keys', 'rotate'], env);
    assert.equal(r.code, 0, r.stderr);
    const rotated = json<{ added: string[]; retired: string[]; note: string }>(r.stdout);
    assert.equal(rotated.added.length, 5);
    assert.deepEqual(rotated.retired, []);
    assert.match(rotated.note, /within a second/);

    const keys = await stored();
    assert.deepEqual(keys.map((k) => k.kid), [...rotated.added, ...first.map((k) => k.kid)]);
    assert.deepEqual(keys.map((k) => k.alg), [...GENERATION, ...GENERATION]);
    assert.deepEqual(keys.map((k) => k.use), [...USES, ...USES]);
    assert.ok(keys.every((k) => typeof k.d === 'string'), 'private keys, as oidc-provider takes them');
    assert.equal((await stat(file())).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(keysDir), [SIGNING_KEYS_FILE], 'no temp file left behind');

    const list = await runCli(['keys', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    const listed = json<Listed[]>(list.stdout);
    assert.deepEqual(listed.map(({ created: _created, ...rest }) => rest), keys.map((k, i) => ({ kid: k.kid, alg: k.alg, use: k.use, current: i < 5, signing: i < 3 })));
    for (const key of listed) assert.ok(key.created && !Number.isNaN(Date.parse(key.created)), `${key.kid} has a creation time`);
    assert.ok(Date.parse(listed[0]!.created!) >= Date.parse(listed[5]!.created!), 'the new generation is the younger');
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
    assert.equal(out.added.length, 5);
    assert.deepEqual(out.retired, []);
    const listed = json<Listed[]>((await runCli(['keys', 'list'], fresh)).stdout);
    assert.deepEqual(listed.map((k) => [k.kid, k.alg, k.use, k.current]), out.added.map((kid, i) => [kid, GENERATION[i], USES[i], true]));
  });

  test('a key directory from before encryption keys and EdDSA gets them at the next start; its signing keys stay as they were', async () => {
    const oldDir = path.join(root, 'old-keys');
    await mkdir(oldDir, { recursive: true, mode: 0o700 });
    const signing = await Promise.all((['RS256', 'ES256'] as const).map(async (alg) => {
      const { privateKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = await exportJWK(privateKey);
      return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
    }));
    // The file as earlier versions wrote it: the signing pair, no creation times.
    await writeFile(path.join(oldDir, SIGNING_KEYS_FILE), `${JSON.stringify({ keys: signing }, null, 2)}\n`, { mode: 0o600 });

    const loaded = await loadOrCreateSigningKeys(oldDir);
    assert.deepEqual(loaded.privateJwks.keys.map((k) => [k.alg, k.use]), GENERATION.map((alg, i) => [alg, USES[i]]));
    assert.deepEqual(loaded.privateJwks.keys.slice(0, 2), signing, 'the signing keys are untouched, still first');
    assert.deepEqual(loaded.publicJwks.keys.filter((k) => k.use === 'enc').map((k) => k.alg), ['RSA-OAEP-256', 'ECDH-ES']);
    for (const key of loaded.publicJwks.keys) for (const member of PRIVATE_MEMBERS) assert.equal(key[member as keyof JWK], undefined);
    assert.equal((await stat(path.join(oldDir, SIGNING_KEYS_FILE))).mode & 0o777, 0o600);

    const listed = json<Listed[]>((await runCli(['keys', 'list'], { ...env, KEYS_DIR: oldDir })).stdout);
    assert.deepEqual(listed.map((k) => k.created === null), [true, true, false, false, false], 'keys made before creation times were recorded show null');
    // Written once: the next start reads the same keys.
    assert.deepEqual((await loadOrCreateSigningKeys(oldDir)).privateJwks.keys, loaded.privateJwks.keys);
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
