// Recovery codes (issue 16): what a person keeps on paper for the day the
// authenticator is lost. Ten per set; each is 80 random bits written as 16
// characters of Crockford's base32 alphabet (digits and letters without I, L,
// O, U, so nothing reads as something else), in four groups of four:
// `7KQ2-M9XD-4T0B-PRWZ`.
//
// Stored only as SHA-256 digests, bound to the account. Why not argon2, as
// for passwords: a slow hash exists to make guessing low-entropy input
// costly; these codes are random, and 2^80 guesses (÷10 codes) of SHA-256 are
// beyond any attacker who steals the table (a GPU computing ~10^10 SHA-256 a
// second would need ~400,000 years for one account), while argon2 would cost
// ~20 ms of server CPU per try and, being salted per row, could not be looked
// up: the use is one indexed UPDATE on the digest (recovery-code-repository.ts).
// Binding the digest to the account id makes every account a separate search.
import { createHash, randomBytes } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
/** Crockford's base32 alphabet (https://www.crockford.com/base32.html). */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_CHARACTERS = 16;
const GROUP = 4;

/** One new code, grouped for reading: 16 characters × 5 bits = 80 random bits. */
function newRecoveryCode(): string {
  const bytes = randomBytes((CODE_CHARACTERS * 5) / 8);
  let bits = 0;
  let value = 0;
  let code = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      code += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return code.match(new RegExp(`.{${GROUP}}`, 'g'))!.join('-');
}

/** A new set of distinct codes, as shown to the person (once). */
export function newRecoveryCodes(): string[] {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) codes.add(newRecoveryCode());
  return [...codes];
}

/**
 * What a person typed, as the code's 16 characters: case, spaces and dashes
 * do not matter, and I/L read as 1 and O as 0 (Crockford's decoding rules), so
 * a code copied by hand still works. Undefined when it cannot be a code.
 */
export function normaliseRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 64) return undefined;
  const code = input.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  return code.length === CODE_CHARACTERS && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

/** The stored form of a (normalised) code of this account: SHA-256 over the account id and the code, base64url. */
export function recoveryCodeDigest(accountId: string, normalisedCode: string): string {
  return createHash('sha256').update(`${accountId}:${normalisedCode}`).digest('base64url');
}
