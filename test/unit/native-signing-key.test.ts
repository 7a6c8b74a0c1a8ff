// Our keys sign through node:crypto (server/keys/native-signing-key.ts):
// what they sign must be a JWS signature every verifier accepts, in the
// shape RFC 7518 requires (ES256: R || S, 64 bytes, not DER).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, flattenedVerify, generateKeyPair, importJWK, type JWK } from 'jose';
import { NativeSigningKey, providerSigningKeys } from '../../server/keys/native-signing-key.ts';
import { toPublicJwk } from '../../server/keys/key-store.ts';

const b64u = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

for (const alg of ['ES256', 'RS256'] as const) {
  test(`${alg}: a signature made natively verifies with jose against the published key`, async () => {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), alg, kid: `k-${alg}`, use: 'sig' } as JWK & { kid: string; alg: string };
    const key = new NativeSigningKey(jwk);
    assert.equal(key.kid, jwk.kid);
    assert.equal(key.alg, alg);
    assert.equal(key.kty, alg === 'ES256' ? 'EC' : 'RSA');
    const protectedHeader = b64u(JSON.stringify({ alg, kid: jwk.kid }));
    const payload = b64u(JSON.stringify({ sub: 'x' }));
    const signature = await key.sign(Buffer.from(`${protectedHeader}.${payload}`));
    if (alg === 'ES256') assert.equal(signature.length, 64, 'R || S, not DER');
    const verified = await flattenedVerify({ protected: protectedHeader, payload, signature: b64u(signature) }, await importJWK(toPublicJwk(jwk), alg));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(verified.payload)), { sub: 'x' });
    // The public half is what the library verifies its own tokens with; it holds no private member.
    assert.equal((key.keyObject().export({ format: 'jwk' }) as { d?: string }).d, undefined);
  });
}

test('keys of other algorithms are left to the library as JWKs', async () => {
  const { privateKey } = await generateKeyPair('PS256', { extractable: true });
  const ps = { ...(await exportJWK(privateKey)), alg: 'PS256', kid: 'ps' };
  const { keys } = providerSigningKeys({ keys: [ps] });
  assert.ok(!(keys[0] instanceof NativeSigningKey));
  assert.deepEqual(keys[0], ps);
});
