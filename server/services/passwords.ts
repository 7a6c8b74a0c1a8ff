// Password hashing: argon2id at OWASP's first recommended configuration
// (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1), as a PHC string so the
// parameters travel with each hash and can be raised later without a migration.
import { hash, verify } from '@node-rs/argon2';

// `Algorithm.Argon2id` is a const enum in the package's typings, which
// isolated-module builds cannot inline; its value is 2.
const ARGON2ID = 2;

export const ARGON2_PARAMETERS = Object.freeze({ algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 });

/** NIST SP 800-63B §5.1.1.2: at least 8 characters; the upper bound keeps hashing from becoming a denial of service. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMETERS);
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    // A malformed stored hash is a failed login, not a crash.
    return false;
  }
}
