// The secret box's bound secrets (issue 16: TOTP secrets) next to the
// providers' secrets (issue 15): one key file, and no ciphertext of one kind,
// purpose or owner opens as another.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { createSecretBox, type SecretBox } from '../../server/federation/secret-box.ts';
import { rotateSecretKeys, UPSTREAM_SECRET_KEYS_FILE, UpstreamSecretKeyError } from '../../server/keys/upstream-secret-keys.ts';

let keysDir: string;
let box: SecretBox;
before(async () => {
  keysDir = await mkdtemp(path.join(tmpdir(), 'tollgate-secret-box-'));
  box = createSecretBox(keysDir);
});
after(() => rm(keysDir, { recursive: true, force: true }));

test('a bound secret decrypts for its purpose and subject only, under the same key file as the providers\' secrets', async () => {
  const sealed = await box.encryptBound('mfa.totp', 'account-a', 'JBSWY3DPEHPK3PXP');
  assert.equal(await box.decryptBound('mfa.totp', 'account-a', sealed), 'JBSWY3DPEHPK3PXP');
  const header = decodeProtectedHeader(sealed);
  assert.deepEqual({ alg: header.alg, enc: header.enc, pur: header.pur, sub: header.sub }, { alg: 'dir', enc: 'A256GCM', pur: 'mfa.totp', sub: 'account-a' });
  assert.equal(header.kid, await box.currentKeyId());
  assert.ok(!(await readFile(path.join(keysDir, UPSTREAM_SECRET_KEYS_FILE), 'utf8')).includes('JBSWY3DPEHPK3PXP'));
  await assert.rejects(box.decryptBound('mfa.totp', 'account-b', sealed), UpstreamSecretKeyError, 'another subject');
  await assert.rejects(box.decryptBound('other.purpose', 'account-a', sealed), UpstreamSecretKeyError, 'another purpose');
  await assert.rejects(box.decrypt('account-a', sealed), UpstreamSecretKeyError, 'not a provider secret');
  assert.equal(await box.open('mfa.totp', sealed), undefined, 'not a sealed browser value');
  for (const bad of ['', 'not-a-jwe', `${sealed}x`, sealed.replace(/\.[\w-]+$/, '.AAAA')]) {
    await assert.rejects(box.decryptBound('mfa.totp', 'account-a', bad), UpstreamSecretKeyError);
  }
});

test('a provider secret still decrypts as one, and never as a bound secret', async () => {
  const sealed = await box.encrypt('google', 'client-secret');
  assert.equal(await box.decrypt('google', sealed), 'client-secret');
  await assert.rejects(box.decrypt('github', sealed), UpstreamSecretKeyError);
  await assert.rejects(box.decryptBound('mfa.totp', 'google', sealed), UpstreamSecretKeyError);
});

test('a bound secret outlives a key rotation; its error names the key and the file, never the secret or the subject', async () => {
  const sealed = await box.encryptBound('mfa.totp', 'account-a', 'JBSWY3DPEHPK3PXP');
  const { added } = await rotateSecretKeys(keysDir);
  const resealed = await box.encryptBound('mfa.totp', 'account-a', 'JBSWY3DPEHPK3PXP');
  assert.equal(decodeProtectedHeader(resealed).kid, added);
  assert.equal(await box.decryptBound('mfa.totp', 'account-a', sealed), 'JBSWY3DPEHPK3PXP', 'the older key still decrypts');
  const otherDir = await mkdtemp(path.join(tmpdir(), 'tollgate-secret-box-other-'));
  const error = await createSecretBox(otherDir).decryptBound('mfa.totp', 'account-a', sealed).catch((err: unknown) => err as Error);
  await rm(otherDir, { recursive: true, force: true });
  assert.ok(error instanceof UpstreamSecretKeyError);
  assert.match(error.message, /mfa\.totp/);
  assert.match(error.message, new RegExp(String(decodeProtectedHeader(sealed).kid)));
  assert.doesNotMatch(error.message, /JBSWY3DPEHPK3PXP|account-a/);
});
