// The key store's Ed25519 (EdDSA) signing key (issue 17, point 6): made on
// first start beside RS256 and ES256, added to a key file from before it,
// rotated with the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listSigningKeys, loadOrCreateSigningKeys, rotateSigningKeys, SIGNING_KEYS_FILE } from '../../server/keys/key-store.ts';

test('a first start publishes an Ed25519 key with alg EdDSA, no private part', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-eddsa-'));
  const keys = await loadOrCreateSigningKeys(dir);
  const ed = keys.publicJwks.keys.find((k) => k.alg === 'EdDSA');
  assert.deepEqual([ed?.kty, ed?.crv, ed?.use, typeof ed?.kid, 'd' in (ed ?? {})], ['OKP', 'Ed25519', 'sig', 'string', false]);
  assert.deepEqual(keys.publicJwks.keys.map((k) => k.alg), ['RS256', 'ES256', 'EdDSA', 'RSA-OAEP-256', 'ECDH-ES']);
});

test('a key file without one gets one on the next start; the other keys stay as they were', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-eddsa-'));
  const first = await loadOrCreateSigningKeys(dir);
  const old = { keys: first.privateJwks.keys.filter((k) => k.alg !== 'EdDSA') };
  await writeFile(path.join(dir, SIGNING_KEYS_FILE), JSON.stringify(old));
  const upgraded = await loadOrCreateSigningKeys(dir);
  // Appended behind the keys the file had (the first key of each alg signs, so nothing else changes).
  assert.deepEqual(upgraded.privateJwks.keys.slice(0, 4), old.keys);
  assert.equal(upgraded.privateJwks.keys[4]?.alg, 'EdDSA');
  const stored = JSON.parse(await readFile(path.join(dir, SIGNING_KEYS_FILE), 'utf8')) as { keys: Array<{ alg: string }> };
  assert.deepEqual(stored.keys.map((k) => k.alg), ['RS256', 'ES256', 'RSA-OAEP-256', 'ECDH-ES', 'EdDSA']);
});

test('keys rotate puts a new EdDSA key in front and keeps the previous one published', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-eddsa-'));
  const before = await loadOrCreateSigningKeys(dir);
  const previous = before.privateJwks.keys.find((k) => k.alg === 'EdDSA')!.kid;
  const { added } = await rotateSigningKeys(dir);
  const listed = (await listSigningKeys(dir)).filter((k) => k.alg === 'EdDSA');
  assert.equal(listed.length, 2);
  assert.ok(added.includes(listed[0]!.kid));
  assert.deepEqual([listed[0]!.signing, listed[1]!.kid, listed[1]!.signing], [true, previous, false]);
});
