// Signing keys: one RSA key (RS256: OpenID Connect Core §15.1 requires every
// OP to support it for ID tokens) and one P-256 key (ES256: our access token
// default, ~20x cheaper to sign here and 3x shorter), and one Ed25519 key
// (EdDSA, RFC 8037: for APIs registered with --signing-alg EdDSA, docs/apis.md;
// a key file from before it gets one on the next start). Generated on first start
// into KEYS_DIR, readable by this user only; reused on every start after.
// `tollgate keys rotate` (rotateSigningKeys) puts a new pair in front of them.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from './write-atomically.ts';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const SIGNING_KEYS_FILE = 'signing-keys.json';

export interface SigningKeys {
  /** Private JWKs, as oidc-provider's `jwks` option takes them. */
  readonly privateJwks: { keys: JWK[] };
  /** The public parts only, as /jwks publishes them. */
  readonly publicJwks: { keys: JWK[] };
}

/** The public half of a private JWK, with its kid, alg and use. */
export function toPublicJwk(jwk: JWK): JWK {
  const { kid, alg, use } = jwk;
  const publicJwk = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'jwk' });
  return { ...publicJwk, kid, alg, use } as JWK;
}

export async function loadOrCreateSigningKeys(keysDir: string): Promise<SigningKeys> {
  const file = path.join(keysDir, SIGNING_KEYS_FILE);
  let privateJwks: { keys: JWK[] };
  try {
    privateJwks = JSON.parse(await readFile(file, 'utf8')) as { keys: JWK[] };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}`);
    privateJwks = { keys: await Promise.all(SIGNING_ALGS.map(generate)) };
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    try {
      // `wx`: when several instances start at once on a shared volume, the first writer wins and the others read its keys.
      await writeFile(file, `${JSON.stringify(privateJwks, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (writeErr) {
      if ((writeErr as NodeJS.ErrnoException).code !== 'EEXIST') throw writeErr;
      return loadOrCreateSigningKeys(keysDir);
    }
  }
  if (!Array.isArray(privateJwks.keys) || privateJwks.keys.length === 0) throw new Error(`${file} holds no keys`);
  if (!privateJwks.keys.some((k) => k.alg === 'EdDSA')) privateJwks = await addEdDsaKey(file, privateJwks);
  return { privateJwks, publicJwks: { keys: privateJwks.keys.map(toPublicJwk) } };
}

export interface SigningKeySummary { kid: string; alg: string; use: string; signing: boolean }

/** kid, alg and use of each key in the file, in order; `signing` marks the key new tokens are signed with. No private members. */
export async function listSigningKeys(keysDir: string): Promise<SigningKeySummary[]> {
  const privateJwks = await readKeyFile(path.join(keysDir, SIGNING_KEYS_FILE));
  return (privateJwks?.keys ?? []).map((jwk, i, keys) => ({
    kid: String(jwk.kid), alg: String(jwk.alg), use: String(jwk.use),
    signing: keys.findIndex((k) => k.alg === jwk.alg) === i,
  }));
}

/**
 * Upgrade: a key file written before EdDSA gets an Ed25519 key, after the
 * others (the first key of each alg signs, so nothing else changes). Read back
 * after writing: when instances sharing KEYS_DIR start at once, the last
 * writer's key is the one every instance ends up with (the others follow the
 * file: keys/key-reload.ts).
 */
async function addEdDsaKey(file: string, privateJwks: { keys: JWK[] }): Promise<{ keys: JWK[] }> {
  await writeAtomically(file, `${JSON.stringify({ keys: [...privateJwks.keys, await generate('EdDSA')] }, null, 2)}\n`);
  return (await readKeyFile(file))!;
}

/**
 * A new RS256, ES256 and EdDSA key, written in front of the current ones: oidc-provider
 * signs with the first key of an alg (keystore.selectForSign keeps file order),
 * while /jwks still publishes the previous pair so the tokens it signed verify
 * until they expire. Anything older is dropped: at most two keys per alg.
 */
export async function rotateSigningKeys(keysDir: string): Promise<{ added: string[]; retired: string[] }> {
  const file = path.join(keysDir, SIGNING_KEYS_FILE);
  const current = (await readKeyFile(file))?.keys ?? [];
  const added = await Promise.all(SIGNING_ALGS.map(generate));
  // The previous generation is the first key of each alg, the one signing until now.
  const previous = current.filter((jwk, i) => current.findIndex((k) => k.alg === jwk.alg) === i);
  const retired = current.filter((jwk) => !previous.includes(jwk));
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  await writeAtomically(file, `${JSON.stringify({ keys: [...added, ...previous] }, null, 2)}\n`);
  return { added: added.map((k) => String(k.kid)), retired: retired.map((k) => String(k.kid)) };
}

/** The keys in KEYS_DIR as they are now, without creating any; undefined when there is no key file. */
export async function readSigningKeys(keysDir: string): Promise<SigningKeys | undefined> {
  const privateJwks = await readKeyFile(path.join(keysDir, SIGNING_KEYS_FILE));
  return privateJwks && { privateJwks, publicJwks: { keys: privateJwks.keys.map(toPublicJwk) } };
}

/** The key file, or undefined when there is none yet. */
async function readKeyFile(file: string): Promise<{ keys: JWK[] } | undefined> {
  let parsed: { keys: JWK[] };
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as { keys: JWK[] };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`${file} holds no keys`);
  return parsed;
}


/** One signing key of each, in this order. */
const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;

async function generate(alg: (typeof SIGNING_ALGS)[number]): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint as kid: stable, unique per key, derived from public members only.
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}
