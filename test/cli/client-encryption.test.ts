// `tollgate clients add|update` with encrypted responses (OpenID Connect
// Core §10.2): `--id-token-encryption ALG[,ENC]`, `--userinfo-encryption`,
// the client's keys from `--jwks-file` or `--jwks-uri`; RFC 7591 metadata
// out, weak algorithms refused, bad files a usage error (exit 2).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { runCli } from '../support/processes.ts';

describe('tollgate clients: encrypted responses', () => {
  let env: Record<string, string>;
  let root: string;
  let jwksFile: string;
  let privateFile: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-cli-enc-'));
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys') };
    const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true });
    jwksFile = path.join(root, 'client-jwks.json');
    privateFile = path.join(root, 'private-jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', use: 'enc', alg: 'RSA-OAEP-256' }] }));
    await writeFile(privateFile, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', use: 'enc' }] }));
    assert.equal((await runCli(['migrate'], env)).code, 0);
  });
  after(() => rm(root, { recursive: true, force: true }));

  const json = <T>(stdout: string) => JSON.parse(stdout) as T;
  type Client = Record<string, unknown> & { jwks?: { keys: Array<{ kid: string }> } };

  test('add takes ALG[,ENC] and a key file; update changes, replaces the keys by a URI, and stops with none', async () => {
    const added = await runCli(['clients', 'add', '--id', 'enc-app', '--redirect-uri', 'https://app.example/cb',
      '--id-token-encryption', 'RSA-OAEP-256', '--userinfo-encryption', 'RSA-OAEP-256,A128GCM', '--jwks-file', jwksFile], env);
    assert.equal(added.code, 0, added.stderr);
    const client = json<{ client: Client }>(added.stdout).client;
    assert.equal(client.id_token_encrypted_response_alg, 'RSA-OAEP-256');
    assert.equal(client.id_token_encrypted_response_enc, 'A256GCM', 'the default enc');
    assert.equal(client.userinfo_encrypted_response_alg, 'RSA-OAEP-256');
    assert.equal(client.userinfo_encrypted_response_enc, 'A128GCM');
    assert.equal(client.userinfo_signed_response_alg, 'RS256', 'signed, then encrypted');
    assert.deepEqual(client.jwks?.keys.map((k) => k.kid), ['k1']);

    const updated = await runCli(['clients', 'update', '--id', 'enc-app', '--id-token-encryption', 'ECDH-ES+A256KW,A256GCM', '--userinfo-encryption', 'none', '--jwks-uri', 'https://app.example/jwks.json'], env);
    assert.equal(updated.code, 0, updated.stderr);
    const after = json<Client>(updated.stdout);
    assert.equal(after.id_token_encrypted_response_alg, 'ECDH-ES+A256KW');
    assert.equal(after.id_token_encrypted_response_enc, 'A256GCM');
    assert.equal(after.userinfo_encrypted_response_alg, undefined);
    assert.equal(after.userinfo_encrypted_response_enc, undefined);
    assert.equal(after.jwks_uri, 'https://app.example/jwks.json');
    assert.equal(after.jwks, undefined, 'jwks_uri replaces jwks (RFC 7591 §2: not both)');
  });

  test('weak algorithms, private keys and unreadable files are refused; nothing is stored', async () => {
    const refused = async (args: string[], pattern: RegExp, code?: number) => {
      const r = await runCli(['clients', 'add', '--redirect-uri', 'https://app.example/cb', ...args], env);
      assert.notEqual(r.code, 0, `${args.join(' ')}: ${r.stdout}`);
      if (code !== undefined) assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.ok(!r.stderr.includes('"d"'), 'no private key material in the error');
    };
    await refused(['--id', 'weak', '--id-token-encryption', 'RSA1_5', '--jwks-file', jwksFile], /id_token_encrypted_response_alg/);
    await refused(['--id', 'cbc', '--id-token-encryption', 'RSA-OAEP-256,A128CBC-HS256', '--jwks-file', jwksFile], /id_token_encrypted_response_enc/);
    await refused(['--id', 'leaky', '--id-token-encryption', 'RSA-OAEP-256', '--jwks-file', privateFile], /JSON Web Key Set/);
    await refused(['--id', 'nokeys', '--id-token-encryption', 'RSA-OAEP-256'], /jwks/);
    await refused(['--id', 'missing', '--id-token-encryption', 'RSA-OAEP-256', '--jwks-file', path.join(root, 'nope.json')], /cannot read --jwks-file/, 2);
    await refused(['--id', 'both', '--id-token-encryption', 'RSA-OAEP-256', '--jwks-file', jwksFile, '--jwks-uri', 'https://app.example/jwks'], /not both/, 2);
    await refused(['--id', 'triple', '--id-token-encryption', 'RSA-OAEP-256,A256GCM,x', '--jwks-file', jwksFile], /ALG or ALG,ENC/, 2);
    const ids = json<Array<{ client_id: string }>>((await runCli(['clients', 'list'], env)).stdout).map((c) => c.client_id);
    assert.deepEqual(ids.filter((id) => id !== 'enc-app'), []);
  });
});
