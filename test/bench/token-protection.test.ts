// The token-protection benchmark still runs (issue 17's closing note is
// taken with it), and `npm run bench` knows its new scenarios. Nothing here
// looks at a figure: timings never belong in tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(TSX, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('bench/token-protection.ts measures every operation of the closing note, each of which succeeds', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await run(['bench/token-protection.ts', '--rounds', '1', '--ops', '2']);
  assert.equal(code, 0, stderr);
  const rows = stdout.split('\n').filter((line) => /^\| (issue|API|client|token endpoint):/.test(line)).map((line) => line.split(' | ')[0]!.slice(2));
  assert.deepEqual(rows, [
    'issue: sign ES256 (the plain figure)',
    'issue: sign RS256 (2048-bit key)',
    'issue: sign EdDSA (Ed25519)',
    'issue: sign ES256, encrypt RSA-OAEP-256 (2048) + A256GCM',
    'issue: sign ES256, encrypt ECDH-ES+A256KW (P-256) + A256GCM',
    'API: verify ES256 (toolkit createAccessTokenVerifier)',
    'API: verify RS256 (toolkit createAccessTokenVerifier)',
    'API: verify EdDSA (toolkit createAccessTokenVerifier)',
    'API: decrypt RSA-OAEP-256 + verify ES256 (toolkit, decryptionKeys)',
    'API: decrypt ECDH-ES+A256KW + verify ES256 (toolkit, decryptionKeys)',
    'client: create a DPoP proof (ES256, jose)',
    'token endpoint: verify a DPoP proof as oidc-provider does',
    'API: DPoP proof check alone (toolkit createDpopVerifier)',
    'API: requireAccessToken, a bearer token (ES256)',
    "API: requireAccessToken({ dpop: 'required' }), a DPoP-bound token + proof",
  ]);
});

test('bench/token-protection.ts refuses a bad option with its usage', async () => {
  const { code, stderr } = await run(['bench/token-protection.ts', '--rounds', '0']);
  assert.equal(code, 2);
  assert.match(stderr, /usage: npx tsx bench\/token-protection\.ts/);
});

test('npm run bench names the token-protection scenarios, and refuses unknown ones before starting anything', { timeout: 120_000 }, async () => {
  const help = await run(['bench/run.ts', '--help']);
  assert.equal(help.code, 0, help.stderr);
  for (const name of ['client_credentials_dpop', 'client_credentials_encrypted', 'token_protection']) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));

  const unknown = await run(['bench/run.ts', '--only', 'client_credentials_dpop,client_credentials_encrypted,token_protection,nonsense']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no scenario named nonsense\n/);

  // Proofs are signed before the window, with an iat the library accepts for at most 300 s either way.
  const long = await run(['bench/run.ts', '--only', 'client_credentials_dpop', '--duration', '900']);
  assert.equal(long.code, 2);
  assert.match(long.stderr, /client_credentials_dpop needs --duration 500 or less/);
});
