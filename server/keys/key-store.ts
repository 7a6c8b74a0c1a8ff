// Signing keys: one RSA key (RS256: OpenID Connect Core §15.1 requires every
// OP to support it for ID tokens) and one P-256 key (ES256: our access token
// default, ~20x cheaper to sign here and 3x shorter), and one Ed25519 key
// (EdDSA, RFC 8037: for APIs registered with --signing-alg EdDSA, docs/apis.md;
// a key file from before it gets one on the next start). Generated on first start
// into KEYS_DIR, readable by this user only; reused on every start after.
// `tollgate keys rotate` (rotateSigningKeys) puts a new pair in front of them.
//
// The same file holds Tollgate's encryption keys (`use: enc`): one RSA key
// (RSA-OAEP-256) and one P-256 key (ECDH-ES), published at /jwks so that a
// client can encrypt a request object to Tollgate (RFC 9101 §6.1; OpenID
// Connect Core §10.2). They live and rotate with the signing keys: one file,
// one atomic rename, one reload (key-reload.ts), and the previous generation
// is kept as long as the previous signing keys are, so a request encrypted
// to it still decrypts.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from './write-atomically.ts';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const SIGNING_KEYS_FILE = 'signing-keys.json';

/** What each generation of keys holds, in file order: three signing keys, then two encryption keys. */
const GENERATION = ['RS256', 'ES256', 'EdDSA', 'RSA-OAEP-256', 'ECDH-ES'] as const;
type KeyAlg = (typeof GENERATION)[number];
const ENCRYPTION_ALGS: readonly KeyAlg[] = ['RSA-OAEP-256', 'ECDH-ES'];

/**
 * The key file: the private JWK Set, and when each key was made (kid → ISO
 * time; absent for keys made before it was recorded). `created` stays out of
 * the JWKs themselves, which oidc-provider and Node's JWK import read.
 */
interface KeyFile { keys: JWK[]; created?: Record<string, string> }

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
  let stored: KeyFile;
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as KeyFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}`);
    stored = await generation();
    await mkdir(keysDir, { recursive: true, mode: 0o700 });
    try {
      // `wx`: when several instances start at once on a shared volume, the first writer wins and the others read its keys.
      await writeFile(file, serialise(stored), { mode: 0o600, flag: 'wx' });
    } catch (writeErr) {
      if ((writeErr as NodeJS.ErrnoException).code !== 'EEXIST') throw writeErr;
      return loadOrCreateSigningKeys(keysDir);
    }
  }
  if (!Array.isArray(stored.keys) || stored.keys.length === 0) throw new Error(`${file} holds no keys`);
  const missing = GENERATION.filter((alg) => !stored.keys.some((k) => k.alg === alg));
  if (missing.length) {
    // A key directory from before Tollgate had encryption keys or an EdDSA
    // key: they are added behind the keys it has, which stay as they are (the
    // first key of each alg signs, so nothing else changes). Instances
    // upgrading at once may each write theirs; the last rename wins and the
    // others reload it (key-reload.ts).
    const added = await generation(missing);
    stored = { keys: [...stored.keys, ...added.keys], created: { ...stored.created, ...added.created } };
    await writeAtomically(file, serialise(stored));
  }
  return keysOf(stored);
}

export interface SigningKeySummary {
  kid: string;
  alg: string;
  /** `sig` signs tokens; `enc` decrypts what clients encrypt to Tollgate (request objects). */
  use: string;
  /** When the key was made (ISO 8601); null for keys made before this was recorded. */
  created: string | null;
  /** The newest key of its alg: the one new tokens are signed with, or the one clients should encrypt to. */
  current: boolean;
  /** `current` for a signing key (kept for scripts written before encryption keys). */
  signing: boolean;
}

/** kid, alg, use and age of each key in the file, in order. No private members. */
export async function listSigningKeys(keysDir: string): Promise<SigningKeySummary[]> {
  const stored = await readKeyFile(path.join(keysDir, SIGNING_KEYS_FILE));
  return (stored?.keys ?? []).map((jwk, i, keys) => {
    const current = keys.findIndex((k) => k.alg === jwk.alg) === i;
    return {
      kid: String(jwk.kid), alg: String(jwk.alg), use: String(jwk.use),
      created: stored?.created?.[String(jwk.kid)] ?? null,
      current, signing: current && jwk.use === 'sig',
    };
  });
}

/**
 * A new generation (RS256, ES256, EdDSA signing keys; RSA-OAEP-256, ECDH-ES
 * encryption keys), written in front of the current ones: oidc-provider
 * signs with the first key of an alg (keystore.selectForSign keeps file
 * order), while /jwks still publishes the previous generation so the tokens
 * it signed verify until they expire, and the provider still decrypts
 * request objects encrypted to the previous encryption keys (it picks the
 * decryption key by the JWE's kid). Anything older is dropped: at most two
 * keys per alg.
 */
export async function rotateSigningKeys(keysDir: string): Promise<{ added: string[]; retired: string[] }> {
  const file = path.join(keysDir, SIGNING_KEYS_FILE);
  const stored = await readKeyFile(file);
  const current = stored?.keys ?? [];
  const added = await generation();
  // The previous generation is the first key of each alg, the one in use until now.
  const previous = current.filter((jwk, i) => current.findIndex((k) => k.alg === jwk.alg) === i);
  const retired = current.filter((jwk) => !previous.includes(jwk));
  const kept = [...added.keys, ...previous];
  const created = Object.fromEntries(Object.entries({ ...stored?.created, ...added.created }).filter(([kid]) => kept.some((k) => k.kid === kid)));
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  await writeAtomically(file, serialise({ keys: kept, created }));
  return { added: added.keys.map((k) => String(k.kid)), retired: retired.map((k) => String(k.kid)) };
}

/** The keys in KEYS_DIR as they are now, without creating any; undefined when there is no key file. */
export async function readSigningKeys(keysDir: string): Promise<SigningKeys | undefined> {
  const stored = await readKeyFile(path.join(keysDir, SIGNING_KEYS_FILE));
  return stored && keysOf(stored);
}

function keysOf(stored: KeyFile): SigningKeys {
  // Only `keys`: the JWK Set oidc-provider takes (signing and encryption keys alike).
  return { privateJwks: { keys: stored.keys }, publicJwks: { keys: stored.keys.map(toPublicJwk) } };
}

function serialise(stored: KeyFile): string {
  return `${JSON.stringify(stored, null, 2)}\n`;
}

/** The key file, or undefined when there is none yet. */
async function readKeyFile(file: string): Promise<KeyFile | undefined> {
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as KeyFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`${file} holds no keys`);
  return parsed;
}

/** One new key per alg, with the time it was made. */
async function generation(algs: readonly KeyAlg[] = GENERATION): Promise<Required<KeyFile>> {
  const keys = await Promise.all(algs.map(generate));
  const now = new Date().toISOString();
  return { keys, created: Object.fromEntries(keys.map((k) => [String(k.kid), now])) };
}

async function generate(alg: KeyAlg): Promise<JWK> {
  // RSA at 2048 bits for both uses; ECDH-ES on P-256 (jose's default curve for it).
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('RS') ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint as kid: stable, unique per key, derived from public members only.
  // RFC 8725 §3.1 and RFC 7517 §4.2: one alg and one use per key.
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: ENCRYPTION_ALGS.includes(alg) ? 'enc' : 'sig' };
}
