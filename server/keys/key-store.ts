// Signing keys: one RSA key (RS256: OpenID Connect Core §15.1 requires every
// OP to support it for ID tokens) and one P-256 key (ES256: our access token
// default, ~20x cheaper to sign here and 3x shorter). Generated on first start
// into KEYS_DIR, readable by this user only; reused on every start after.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
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
    privateJwks = { keys: [await generate('RS256'), await generate('ES256')] };
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
  return { privateJwks, publicJwks: { keys: privateJwks.keys.map(toPublicJwk) } };
}

async function generate(alg: 'RS256' | 'ES256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint as kid: stable, unique per key, derived from public members only.
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}
