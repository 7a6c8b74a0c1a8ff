// npx tsx bench/token-protection.ts [--rounds 7] [--ops 400] [--core 0]
// (also run by `npm run bench`, last, after the servers have stopped; alone: `npm run bench -- --only token_protection`)
//
// The cost of protecting one access token (issue 17's closing note), in
// tokens per second of one core, next to the plain ES256 figure:
// - issuing (the authorization server, as oidc-provider does it in
//   lib/helpers/jwt.js: CompactSign with the key store's KeyObjects, then
//   CompactEncrypt to the API's public key): signing with ES256, RS256 and
//   EdDSA; signing, then encrypting with RSA-OAEP-256 or ECDH-ES+A256KW,
//   and A256GCM (what server/oidc/api-encryption.ts picks for an RSA or EC key);
// - verifying at the API with the toolkit (createAccessTokenVerifier, keys
//   given, so no fetch): each signature, and decrypt + verify of each JWE;
// - DPoP (RFC 9449): creating a proof as a client does (jose, a WebCrypto
//   key); verifying one as oidc-provider's token endpoint does
//   (lib/helpers/validate_dpop.js: jwtVerify with EmbeddedJWK, the claim
//   checks, the key's thumbprint; its replay store, a database or Redis
//   write, is not in this figure, it is in `npm run bench`'s
//   client_credentials_dpop row); the toolkit's proof check alone
//   (createDpopVerifier, with its in-memory replay cache); and the whole
//   requireAccessToken({ dpop: 'required' }) guard for a DPoP-bound token,
//   beside the same guard for a bearer token.
//
// This process pins itself, every thread, to one core (`taskset`, when it
// exists), as `npm run bench` pins the server. Each operation runs --rounds
// times --ops operations after a warm-up; the figure is the median round's
// rate (tokens/s), with the slowest and fastest round beside it and the
// process CPU per operation (all threads: WebCrypto works on libuv's pool).
// Proofs and tokens with unique `jti` are made before the timed rounds.
// Figures belong in docs/performance.md and closing notes, never in tests.
import { createHash, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  calculateJwkThumbprint, CompactEncrypt, CompactSign, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK,
} from 'jose';
import type { Middleware } from 'koa';
import { createAccessTokenVerifier, createDpopVerifier, DPOP_ALGORITHMS, requireAccessToken, type AuthState } from '../server/resource-server/index.ts';

const USAGE = 'usage: npx tsx bench/token-protection.ts [--rounds 7] [--ops 400] [--core 0]\n';
let values;
try {
  ({ values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      ops: { type: 'string', default: '400' },
      core: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`token-protection: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const ROUNDS = Number(values.rounds);
const OPS = Number(values.ops);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1 && Number.isInteger(OPS) && OPS >= 1)) {
  process.stderr.write(`token-protection: --rounds and --ops are whole numbers from 1\n${USAGE}`);
  process.exit(2);
}
const pinned = spawnSync('taskset', ['-a', '-p', '-c', String(values.core), String(process.pid)], { stdio: 'ignore' }).status === 0;

const ISSUER = 'https://id.bench.example';
const AUDIENCE = 'https://api.bench.example';
const API_URL = `${AUDIENCE}/notes`;

// The authorization server's keys, as its key store hands them to oidc-provider (KeyObjects).
const signing = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  RS256: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: generateKeyPairSync('ed25519'),
} as const;
type SigningAlg = keyof typeof signing;
// The API's encryption keys (docs/apis.md makes an RSA one with jose's defaults: 2048 bits).
const encryption = {
  'RSA-OAEP-256': generateKeyPairSync('rsa', { modulusLength: 2048 }),
  'ECDH-ES+A256KW': generateKeyPairSync('ec', { namedCurve: 'P-256' }),
} as const;
type EncryptionAlg = keyof typeof encryption;

const publicJwk = (key: KeyObject, kid: string, alg: string): JWK => ({ ...(key.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' });
const issuerJwks = { keys: (Object.keys(signing) as SigningAlg[]).map((alg) => publicJwk(signing[alg].publicKey, `sig-${alg}`, alg)) };

/** An access token's claims as Tollgate issues them for client credentials (RFC 9068 §2.2), optionally bound to a DPoP key. */
function claims(jkt?: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER, sub: 'bench-worker', aud: AUDIENCE, iat: now, exp: now + 900, jti: randomUUID(),
    client_id: 'bench-worker', scope: 'notes:read notes:write', ...(jkt ? { cnf: { jkt } } : {}),
  };
}

/** lib/helpers/jwt.js sign(): the access token as oidc-provider signs it. */
function sign(alg: SigningAlg, payload = claims()): Promise<string> {
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg, typ: 'at+jwt', kid: `sig-${alg}` })
    .sign(signing[alg].privateKey);
}

/** lib/models/formats/jwt.js: the signed token, then encrypted to the API (cty at+jwt), as for an API registered with --encrypt. */
async function signThenEncrypt(alg: EncryptionAlg): Promise<string> {
  const signed = await sign('ES256');
  return new CompactEncrypt(Buffer.from(signed))
    .setProtectedHeader({ alg, enc: 'A256GCM', kid: `enc-${alg}`, cty: 'at+jwt' })
    .encrypt(encryption[alg].publicKey);
}

interface Result { label: string; rates: number[]; cpuUs: number }

async function measure(label: string, work: (i: number) => Promise<unknown>, prepare?: (count: number) => Promise<void>): Promise<Result> {
  const warm = Math.min(OPS, 100);
  if (prepare) await prepare(warm);
  for (let i = 0; i < warm; i += 1) await work(i);
  const rates: number[] = [];
  let cpu = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    if (prepare) await prepare(OPS);
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < OPS; i += 1) await work(i);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpuBefore);
    cpu += used.user + used.system;
    rates.push(OPS / seconds);
  }
  rates.sort((a, b) => a - b);
  const result = { label, rates, cpuUs: cpu / (ROUNDS * OPS) };
  print(result);
  return result;
}

const rows: Result[] = [];
let plain: number | undefined;
const fmt = (n: number) => Math.round(n).toLocaleString('en');
function print(r: Result) {
  const median = r.rates[Math.floor(r.rates.length / 2)]!;
  plain ??= median;
  rows.push(r);
  process.stderr.write(`  ${r.label}: ${fmt(median)}/s\n`);
}

process.stderr.write(`token protection: ${ROUNDS} rounds of ${OPS} operations each, ${pinned ? `pinned to core ${values.core}` : 'not pinned (no taskset)'}\n`);

// Issuing. The first row is the plain figure every other is compared with.
await measure('issue: sign ES256 (the plain figure)', () => sign('ES256'));
await measure('issue: sign RS256 (2048-bit key)', () => sign('RS256'));
await measure('issue: sign EdDSA (Ed25519)', () => sign('EdDSA'));
await measure('issue: sign ES256, encrypt RSA-OAEP-256 (2048) + A256GCM', () => signThenEncrypt('RSA-OAEP-256'));
await measure('issue: sign ES256, encrypt ECDH-ES+A256KW (P-256) + A256GCM', () => signThenEncrypt('ECDH-ES+A256KW'));

// Verifying at the API with the toolkit.
for (const alg of Object.keys(signing) as SigningAlg[]) {
  const verifier = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, algorithms: [alg] });
  const token = await sign(alg);
  await measure(`API: verify ${alg} (toolkit createAccessTokenVerifier)`, () => verifier.verify(token));
}
for (const alg of Object.keys(encryption) as EncryptionAlg[]) {
  const privateJwk = { ...(encryption[alg].privateKey.export({ format: 'jwk' }) as JWK), kid: `enc-${alg}`, alg };
  const verifier = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, algorithms: ['ES256'], decryptionKeys: [privateJwk] });
  const token = await signThenEncrypt(alg);
  await measure(`API: decrypt ${alg} + verify ES256 (toolkit, decryptionKeys)`, () => verifier.verify(token));
}

// DPoP. The client's key as a browser or oauth4webapi holds it: a WebCrypto key pair.
const client = await generateKeyPair('ES256');
const clientJwk = await exportJWK(client.publicKey);
const jkt = await calculateJwkThumbprint(clientJwk);
const proof = (htu: string, ath?: string) => new SignJWT({ htm: 'POST', htu, jti: randomUUID(), ...(ath ? { ath } : {}) })
  .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk })
  .setIssuedAt()
  .sign(client.privateKey);
await measure('client: create a DPoP proof (ES256, jose)', () => proof(`${ISSUER}/token`));

let proofs: string[] = [];
const proofsFor = (htu: string, ath?: string) => async (count: number) => {
  proofs = await Promise.all(Array.from({ length: count }, () => proof(htu, ath)));
};
/** lib/helpers/validate_dpop.js, without its ReplayDetection write. */
await measure('token endpoint: verify a DPoP proof as oidc-provider does', async (i) => {
  const { payload, protectedHeader } = await jwtVerify(proofs[i]!, EmbeddedJWK, { algorithms: [...DPOP_ALGORITHMS], typ: 'dpop+jwt' });
  if (typeof payload.iat !== 'number' || typeof payload.jti !== 'string' || payload.htm !== 'POST') throw new Error('bad proof');
  const htu = URL.parse(String(payload.htu));
  if (!htu || htu.href !== `${ISSUER}/token`) throw new Error('bad htu');
  return calculateJwkThumbprint(protectedHeader.jwk!);
}, proofsFor(`${ISSUER}/token`));

const boundToken = await sign('ES256', claims(jkt));
const ath = createHash('sha256').update(boundToken).digest('base64url');
{
  // A fresh replay cache per round: each holds one round's proofs.
  let proofVerifier = createDpopVerifier();
  await measure('API: DPoP proof check alone (toolkit createDpopVerifier)', (i) => proofVerifier.verify({ method: 'POST', url: API_URL, proof: proofs[i], accessToken: boundToken, jkt }), async (count) => {
    proofVerifier = createDpopVerifier();
    await proofsFor(API_URL, ath)(count);
  });
}

/** The toolkit's Koa guard, called as Koa calls it (the request's parts it reads, nothing more). */
async function guarded(guard: Middleware<AuthState>, authorization: string, dpop?: string) {
  const headers: Record<string, string | undefined> = { authorization, dpop };
  const ctx = {
    method: 'POST', originalUrl: '/notes', state: {} as AuthState, status: 200, body: undefined as unknown,
    get: (name: string) => headers[name.toLowerCase()] ?? '',
    set: () => {},
  };
  await guard(ctx as unknown as Parameters<Middleware<AuthState>>[0], async () => {});
  if (!ctx.state.auth) throw new Error(`the guard refused the request: ${JSON.stringify(ctx.body)}`);
}
const verifier = createAccessTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: issuerJwks, algorithms: ['ES256'] });
const bearerToken = await sign('ES256');
const bearerGuard = requireAccessToken({ verifier, dpop: false });
await measure('API: requireAccessToken, a bearer token (ES256)', () => guarded(bearerGuard, `Bearer ${bearerToken}`));
{
  let dpopGuard = requireAccessToken({ verifier, dpop: { required: true, origin: AUDIENCE } });
  await measure("API: requireAccessToken({ dpop: 'required' }), a DPoP-bound token + proof", (i) => guarded(dpopGuard, `DPoP ${boundToken}`, proofs[i]), async (count) => {
    dpopGuard = requireAccessToken({ verifier, dpop: { required: true, origin: AUDIENCE } });
    await proofsFor(API_URL, ath)(count);
  });
}

process.stdout.write(`\nToken protection, per token on one core (${pinned ? `pinned to core ${values.core}` : 'not pinned: no taskset'}; node ${process.version}; median of ${ROUNDS} rounds of ${OPS})\n\n`);
process.stdout.write('| operation | tokens/s (median) | slowest–fastest round | CPU µs/op | vs ES256 signing |\n|---|---:|---:|---:|---:|\n');
for (const r of rows) {
  const median = r.rates[Math.floor(r.rates.length / 2)]!;
  process.stdout.write(`| ${r.label} | ${fmt(median)} | ${fmt(r.rates[0]!)}–${fmt(r.rates.at(-1)!)} | ${r.cpuUs.toFixed(0)} | ${(median / plain!).toFixed(2)} |\n`);
}
