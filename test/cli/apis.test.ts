// `tollgate apis ...` (issue 17): add, list, update, remove, run as an
// operator runs them (a process of its own on the embedded database), with
// bad arguments answered by exit 2 and the option that was wrong; and
// `keys list` / `keys rotate` with the EdDSA key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../support/processes.ts';

const ISSUER = 'http://localhost:4568';
const NOTES = 'https://notes.example.test/api';

describe('tollgate apis', () => {
  let root: string;
  let env: Record<string, string>;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tollgate-apis-cli-'));
    env = { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys'), ISSUER };
  });
  after(() => rm(root, { recursive: true, force: true }));
  const cli = (args: string[]) => runCli(args, env);

  test('add, list, update, remove', async () => {
    const added = await cli(['apis', 'add', '--identifier', NOTES, '--name', 'Notes', '--scopes', 'notes:read notes:write', '--access-token-ttl', '600', '--signing-alg', 'EdDSA']);
    assert.equal(added.code, 0, added.stderr);
    const created = JSON.parse(added.stdout) as Record<string, unknown>;
    assert.deepEqual([created.identifier, created.scopes, created.access_token_ttl, created.signing_alg, created.require_dpop], [NOTES, ['notes:read', 'notes:write'], 600, 'EdDSA', false]);
    assert.match(String(created.next_step), /clients add --scope/);

    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwksFile = path.join(root, 'notes-jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), use: 'enc', kid: 'notes-enc' }] }));
    const updated = await cli(['apis', 'update', '--identifier', NOTES, '--require-dpop', '--encrypt', '--jwks-file', jwksFile, '--default-access-token-ttl', '--scopes', 'notes:read']);
    assert.equal(updated.code, 0, updated.stderr);
    const after = JSON.parse(updated.stdout) as Record<string, any>;
    assert.deepEqual([after.require_dpop, after.encrypt, after.jwks.keys[0].kid, after.access_token_ttl, after.scopes], [true, true, 'notes-enc', null, ['notes:read']]);

    const list = await cli(['apis', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as Array<{ identifier: string }>).map((a) => a.identifier), [NOTES]);

    const removed = await cli(['apis', 'remove', '--identifier', NOTES]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(JSON.parse((await cli(['apis', 'list'])).stdout), []);
    const again = await cli(['apis', 'remove', '--identifier', NOTES]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no API with identifier/);
  });

  test('bad arguments exit 2 naming the option; a taken identifier exits 1', async () => {
    const base = ['--name', 'X', '--scopes', 'x:read'];
    const cases: Array<[string[], RegExp]> = [
      [['--identifier', 'http://api.example.test', ...base], /--identifier: must use https/],
      [['--identifier', `${ISSUER}/api`, ...base], /--identifier: is one of Tollgate's own APIs/],
      [['--identifier', 'https://x.example.test', '--name', 'X', '--scopes', 'bad"scope'], /--scopes \(1st\): must be RFC 6749 scope tokens/],
      [['--identifier', 'https://x.example.test', ...base, '--access-token-ttl', '10'], /--access-token-ttl: must be from 60 to 86400/],
      [['--identifier', 'https://x.example.test', ...base, '--access-token-ttl', 'soon'], /--access-token-ttl must be a number/],
      [['--identifier', 'https://x.example.test', ...base, '--signing-alg', 'HS256'], /--signing-alg: must be one of: ES256, RS256, EdDSA/],
      [['--identifier', 'https://x.example.test', ...base, '--encrypt'], /--encrypt: needs the API's public keys/],
      [['--identifier', 'https://x.example.test', ...base, '--encrypt', '--jwks-file', '/nonexistent/jwks.json'], /--jwks-file: cannot read/],
      [['--identifier', 'https://x.example.test', ...base, '--jwks-uri', 'https://k.example.test', '--jwks-file', 'f'], /either --jwks-uri or --jwks-file/],
      [['--name', 'X', '--scopes', 'x:read'], /missing --identifier/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['apis', 'add', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.equal((await cli(['apis', 'add', '--identifier', 'https://taken.example.test', ...base])).code, 0);
    const taken = await cli(['apis', 'add', '--identifier', 'https://taken.example.test', ...base]);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already exists/);
  });

  test('keys list shows the EdDSA key; keys rotate rotates it with the others', async () => {
    const listed = JSON.parse((await cli(['keys', 'list'])).stdout) as Array<{ alg: string; kid: string; signing: boolean }>;
    const ed = listed.filter((k) => k.alg === 'EdDSA');
    assert.equal(ed.length, 1);
    const rotated = await cli(['keys', 'rotate']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal((JSON.parse(rotated.stdout) as { added: string[] }).added.length, 5, 'RS256, ES256, EdDSA, and the two encryption keys');
    const after = (JSON.parse((await cli(['keys', 'list'])).stdout) as Array<{ alg: string; kid: string; signing: boolean }>).filter((k) => k.alg === 'EdDSA');
    assert.deepEqual(after.map((k) => k.signing), [true, false]);
    assert.equal(after[1]!.kid, ed[0]!.kid);
  });
});
