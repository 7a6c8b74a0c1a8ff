// The pure parts of server/mfa/: the key URI an app reads, the secret as
// typed, what counts as a TOTP code, what counts as a recovery code, and the
// codes themselves. Codes are computed by otpauth, not by the server's library.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { groupedSecret, matchingTimeStep, newTotpSecret, normaliseTotpCode, timeStepOf, totpUri } from '../../server/mfa/totp.ts';
import { newRecoveryCodes, normaliseRecoveryCode, recoveryCodeDigest } from '../../server/mfa/recovery-codes.ts';

test('RFC 6238 Appendix B: the SHA-1 test vectors (truncated to 6 digits) match at their times, ±1 step', () => {
  // The RFC's seed is the ASCII "12345678901234567890"; its 8-digit codes end in these 6 digits.
  const secret = OTPAuth.Secret.fromUTF8('12345678901234567890').base32;
  for (const [time, code] of [[59, '287082'], [1111111109, '081804'], [1111111111, '050471'], [1234567890, '005924'], [2000000000, '279037']] as const) {
    assert.equal(matchingTimeStep(secret, code, time), timeStepOf(time), `at ${time}`);
    assert.equal(matchingTimeStep(secret, code, time + 30), timeStepOf(time), 'a step later');
    assert.equal(matchingTimeStep(secret, code, time - 30), timeStepOf(time), 'a step earlier');
    assert.equal(matchingTimeStep(secret, code, time + 60), undefined, 'two steps later');
  }
});

test('a new secret is 20 random bytes in base32; grouped by four for typing', () => {
  const secret = newTotpSecret();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.notEqual(newTotpSecret(), secret);
  assert.equal(groupedSecret('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'), 'ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567');
});

test('the key URI keeps issuer and account apart even when they hold a colon, and escapes the rest', () => {
  const uri = totpUri('JBSWY3DPEHPK3PXP', 'Example: Login', 'ada+mfa@example.test');
  const parsed = OTPAuth.URI.parse(uri);
  assert.equal(parsed.issuer, 'Example  Login');
  assert.equal(parsed.label, 'ada+mfa@example.test');
  assert.equal(new URL(uri).searchParams.get('issuer'), 'Example  Login');
});

test('a TOTP code is six digits; spaces and dashes are ignored, nothing else is', () => {
  assert.equal(normaliseTotpCode('123456'), '123456');
  assert.equal(normaliseTotpCode(' 123 456 '), '123456');
  assert.equal(normaliseTotpCode('123-456'), '123456');
  for (const bad of ['12345', '1234567', 'l23456', '١٢٣٤٥٦', '12345\u0000', 'x'.repeat(1000), 123456, null, undefined, {}]) {
    assert.equal(normaliseTotpCode(bad), undefined, String(bad).slice(0, 10));
  }
});

test('recovery codes: ten distinct, 16 characters of Crockford base32 in four groups', () => {
  const codes = newRecoveryCodes();
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const code of codes) assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
  // Every character of the alphabet turns up over many codes (no bias to a subset).
  const seen = new Set(Array.from({ length: 50 }, () => newRecoveryCodes().join('')).join('').replaceAll('-', ''));
  assert.equal(seen.size, 32);
});

test('a typed recovery code: case, spaces and dashes do not matter; I and L read as 1, O as 0; U and other characters are not codes', () => {
  assert.equal(normaliseRecoveryCode('7KQ2-M9XD-4T0B-PRWZ'), '7KQ2M9XD4T0BPRWZ');
  assert.equal(normaliseRecoveryCode(' 7kq2 m9xd 4t0b prwz '), '7KQ2M9XD4T0BPRWZ');
  assert.equal(normaliseRecoveryCode('7kq2m9xd4tobprwz'), '7KQ2M9XD4T0BPRWZ', 'o as 0');
  assert.equal(normaliseRecoveryCode('IL00-0000-0000-0000'), '1100000000000000');
  for (const bad of ['7KQ2-M9XD-4T0B-PRW', '7KQ2-M9XD-4T0B-PRWZA', '7KQ2-M9XD-4T0B-PRWU', '7KQ2_M9XD_4T0B_PRWZ', '', 'x'.repeat(1000), 42, null]) {
    assert.equal(normaliseRecoveryCode(bad), undefined, String(bad).slice(0, 20));
  }
});

test('a recovery code\'s digest is bound to its account', () => {
  assert.notEqual(recoveryCodeDigest('a', '7KQ2M9XD4T0BPRWZ'), recoveryCodeDigest('b', '7KQ2M9XD4T0BPRWZ'));
  assert.match(recoveryCodeDigest('a', '7KQ2M9XD4T0BPRWZ'), /^[\w-]{43}$/);
});
