// Encrypted access tokens in the resource-server toolkit (issue 17, point 2):
// an API registered for encryption receives nested JWTs (RFC 7519 §5.2:
// signed by the issuer, then encrypted to the API's public key) and decrypts
// them with its private keys (`decryptionKeys`). Imported as its users get
// it (`tollgate/resource-server`, the built package export); the tokens are
// made here with jose, the issuer's side played by a key of the test's own.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompactEncrypt, SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import Koa from 'koa';
import { BearerError, createAccessTokenVerifier, requireAccessToken, type AccessTokenVerifier } from 'tollgate/resource-server';

const ISSUER = 'https://id.example.test';
const AUDIENCE = 'https://notes.example.test';

describe('encrypted access tokens', () => {
  let issuerKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let issuerJwks: { keys: JWK[] };
  /** The API's keys: RSA (RSA-OAEP-256) and EC (ECDH-ES), each with a kid, and one of another API. */
  const api: Record<'rsa' | 'ec' | 'old' | 'other', { public: JWK; private: JWK }> = {} as never;
  let verifier: AccessTokenVerifier;

  const pair = async (alg: string, kid: string) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    return { public: { ...await exportJWK(publicKey), kid, alg }, private: { ...await exportJWK(privateKey), kid, alg } };
  };

  before(async () => {
    const signing = await generateKeyPair('ES256', { extractable: true });
    issuerKey = signing.privateKey;
    issuerJwks = { keys: [{ ...await exportJWK(signing.publicKey), kid: 'issuer-1', alg: 'ES256', use: 'sig' }] };
    api.rsa = await pair('RSA-OAEP-256', 'notes-rsa-2');
    api.ec = await pair('ECDH-ES+A256KW', 'notes-ec-2');
    api.old = await pair('RSA-OAEP-256', 'notes-rsa-1');
    api.other = await pair('RSA-OAEP-256', 'photos-rsa-1');
    verifier = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, decryptionKeys: [api.rsa.private, api.ec.private, api.old.private] });
  });

  const signed = (claims: Record<string, unknown> = {}, typ = 'at+jwt') => new SignJWT({ client_id: 'web', scope: 'notes:read', jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ, kid: 'issuer-1' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('user-1').setIssuedAt().setExpirationTime('5m')
    .sign(issuerKey);

  const encrypted = async (inner: string, to: { public: JWK }, header: Record<string, unknown> = {}) => {
    const { importJWK } = await import('jose');
    const alg = String(header.alg ?? to.public.alg);
    return new CompactEncrypt(new TextEncoder().encode(inner))
      .setProtectedHeader({ alg, enc: 'A256GCM', cty: 'JWT', kid: to.public.kid, ...header })
      .encrypt(await importJWK(to.public, alg));
  };

  const refusal = async (token: string, v = verifier) => {
    try {
      await v.verify(token);
    } catch (err) {
      assert.ok(err instanceof BearerError, String(err));
      return err.message;
    }
    assert.fail('accepted');
  };

  test('a token encrypted to the API (RSA-OAEP-256, ECDH-ES+A256KW, ECDH-ES; A256GCM) decrypts, and its signed token verifies', async () => {
    for (const [to, header] of [[api.rsa, {}], [api.ec, {}], [api.ec, { alg: 'ECDH-ES' }]] as const) {
      const token = await encrypted(await signed({ scope: 'notes:read notes:write' }), to, header);
      assert.equal(token.split('.').length, 5);
      const claims = await verifier.verify(token);
      assert.equal(claims.sub, 'user-1');
      assert.equal(claims.scope, 'notes:read notes:write');
    }
  });

  test('after a rotation, a token encrypted to the previous key still decrypts', async () => {
    assert.equal((await verifier.verify(await encrypted(await signed(), api.old))).sub, 'user-1');
  });

  test('an API holding decryption keys refuses a token that is not encrypted (unless told otherwise)', async () => {
    assert.match(await refusal(await signed()), /not encrypted/);
    const lenient = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, decryptionKeys: [api.rsa.private], requireEncryption: false });
    assert.equal((await lenient.verify(await signed())).sub, 'user-1');
    assert.equal((await lenient.verify(await encrypted(await signed(), api.rsa))).sub, 'user-1');
  });

  test('refused: another API\'s token, a weak algorithm, no nested JWT, a tampered inner token, and an API without keys', async () => {
    assert.match(await refusal(await encrypted(await signed(), api.other)), /could not be decrypted/);
    // The same key id, another key: not ours.
    assert.match(await refusal(await encrypted(await signed(), { public: { ...api.other.public, kid: api.rsa.public.kid } })), /could not be decrypted/);
    // RSA1_5 (RFC 8725 §3.2): jose will not even make one, so the header of a real token is swapped for one that names it.
    const real = await encrypted(await signed(), api.rsa);
    const weakHeader = Buffer.from(JSON.stringify({ alg: 'RSA1_5', enc: 'A256GCM', cty: 'JWT', kid: api.rsa.public.kid })).toString('base64url');
    assert.match(await refusal([weakHeader, ...real.split('.').slice(1)].join('.')), /not allowed/);
    assert.match(await refusal(await encrypted(await signed(), api.rsa, { cty: undefined })), /cty JWT/);
    assert.match(await refusal(await encrypted(JSON.stringify({ sub: 'user-1', iss: ISSUER }), api.rsa)), /malformed|signature/);
    const inner = await signed();
    const tampered = inner.slice(0, inner.lastIndexOf('.') + 1) + Buffer.from('forged').toString('base64url');
    assert.match(await refusal(await encrypted(tampered, api.rsa)), /signature is invalid/);
    // An ID token inside is still not an access token.
    assert.match(await refusal(await encrypted(await signed({}, 'JWT'), api.rsa)), /typ|not accepted/);
    const plain = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks });
    assert.match(await refusal(await encrypted(await signed(), api.rsa), plain), /no key to decrypt/);
    assert.match(await refusal('a.b.c.d.e'), /malformed/);
  });

  test('unsafe configurations are refused when the verifier is made', () => {
    assert.throws(() => createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, decryptionKeys: [api.rsa.public] }), /private keys/);
    assert.throws(() => createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, decryptionKeys: [api.rsa.private], keyManagementAlgorithms: ['RSA1_5'] }), /no RSA1_5/);
    assert.throws(() => createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, requireEncryption: true }), /needs decryptionKeys/);
  });

  test('through the Koa guard: an unencrypted token to an API that requires encryption is 401 invalid_token with the Bearer challenge', async () => {
    const app = new Koa();
    app.use(requireAccessToken({ verifier }));
    app.use((ctx) => { ctx.body = { ok: true }; });
    const server = app.listen(0);
    try {
      const { port } = server.address() as { port: number };
      const call = (token: string) => fetch(`http://127.0.0.1:${port}/notes`, { headers: { authorization: `Bearer ${token}` } });
      const ok = await call(await encrypted(await signed(), api.rsa));
      assert.equal(ok.status, 200);
      const plain = await call(await signed());
      assert.equal(plain.status, 401);
      assert.match(plain.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
    } finally {
      server.close();
    }
  });
});
