// The keys that encrypt upstream providers' client secrets at rest (issue
// 15): 256-bit symmetric JWKs in KEYS_DIR/upstream-secret-keys.json, readable
// by this user only. Created on first use (the first provider added), as the
// signing keys are on first start. The first key encrypts; every key in the
// file decrypts, so `tollgate keys rotate-secrets` adds a key in front and
// keeps the others: rows encrypted before still decrypt until
// `tollgate providers re-encrypt` rewrites them under the new key.
//
// Separate from the signing keys on purpose: those rotate on a schedule and
// drop their older generation, which would make a stored secret unreadable.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from './write-atomically.ts';
import { TollgateError } from '../errors.ts';

export const UPSTREAM_SECRET_KEYS_FILE = 'upstream-secret-keys.json';

/** A symmetric JWK (RFC 7518 §6.4) for JWE `dir` with A256GCM. */
export interface SecretKey {
  readonly kty: 'oct';
  /** 32 random bytes, base64url. */
  readonly k: string;
  readonly kid: string;
  readonly alg: 'dir';
  readonly use: 'enc';
  readonly created_at: string;
}

/**
 * The key file cannot be used: unreadable, malformed, or lacking a key a
 * stored secret was encrypted with. Names the file and the key id, never
 * key material. Not exposed to API callers (status 500); the operator reads
 * it at start and in the log.
 */
export class UpstreamSecretKeyError extends TollgateError {
  constructor(message: string) {
    super('upstream_secret_key', message, 500, false);
  }
}

export function secretKeysFile(keysDir: string): string {
  return path.join(keysDir, UPSTREAM_SECRET_KEYS_FILE);
}

/** The keys, the encrypting one first; undefined when there is no file yet. */
export async function readSecretKeys(keysDir: string): Promise<SecretKey[] | undefined> {
  const file = secretKeysFile(keysDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UpstreamSecretKeyError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: { keys?: unknown };
  try {
    parsed = JSON.parse(text) as { keys?: unknown };
  } catch {
    throw new UpstreamSecretKeyError(`${file} is not JSON: restore it from your backup (the upstream providers' secrets cannot be read without it)`);
  }
  const keys = parsed.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isSecretKey)) {
    throw new UpstreamSecretKeyError(`${file} holds no usable keys (each needs kty "oct", a kid, and k of 32 bytes): restore it from your backup`);
  }
  return keys;
}

function isSecretKey(value: unknown): value is SecretKey {
  const key = value as Partial<SecretKey> | null;
  return typeof key === 'object' && key !== null && key.kty === 'oct' && typeof key.kid === 'string' && key.kid.length > 0
    && typeof key.k === 'string' && Buffer.from(key.k, 'base64url').length === 32;
}

/** The keys, creating the file with one key when there is none. */
export async function loadOrCreateSecretKeys(keysDir: string): Promise<SecretKey[]> {
  const existing = await readSecretKeys(keysDir);
  if (existing) return existing;
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  try {
    // `wx`: of several instances creating it at once, the first writer wins and the others read its key.
    await writeFile(secretKeysFile(keysDir), serialise([newKey()]), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return (await readSecretKeys(keysDir))!;
}

/** A new key in front (it encrypts from now on); every older key stays, so what they encrypted still decrypts. */
export async function rotateSecretKeys(keysDir: string): Promise<{ added: string; keys: string[] }> {
  const current = (await readSecretKeys(keysDir)) ?? [];
  const added = newKey();
  const keys = [added, ...current];
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  await writeAtomically(secretKeysFile(keysDir), serialise(keys));
  return { added: added.kid, keys: keys.map((k) => k.kid) };
}

/** Key ids and dates only: never key material. */
export async function listSecretKeys(keysDir: string): Promise<Array<{ kid: string; created_at: string; encrypting: boolean }>> {
  return ((await readSecretKeys(keysDir)) ?? []).map((k, i) => ({ kid: k.kid, created_at: k.created_at, encrypting: i === 0 }));
}

function newKey(): SecretKey {
  const created = new Date();
  // Sortable by creation, unique by the random part; says nothing about the key.
  const kid = `${created.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(6).toString('base64url')}`;
  return { kty: 'oct', k: randomBytes(32).toString('base64url'), kid, alg: 'dir', use: 'enc', created_at: created.toISOString() };
}

const serialise = (keys: SecretKey[]) => `${JSON.stringify({ keys }, null, 2)}\n`;

