// TOTP (RFC 6238) as authenticator apps speak it: HMAC-SHA-1, 6 digits,
// 30-second steps from the Unix epoch (RFC 6238 §4; the parameters Google
// Authenticator, and so every app, assumes), secrets of 20 random bytes (the
// SHA-1 output length, the secret length RFC 4226 §4 R6 recommends), in base32
// (RFC 4648 §6) without padding.
//
// The HOTP/TOTP arithmetic is otplib's (@otplib/totp over node:crypto's HMAC
// through @otplib/plugin-crypto-node), not ours; the codes the tests type are
// computed by a second, independent implementation (otpauth).
//
// Pure functions: no storage, no clock of their own (`nowSeconds` is passed),
// so the service (./mfa.ts) decides replay and the tests decide the time.
import { randomBytes } from 'node:crypto';
import { verifySync } from '@otplib/totp';
import { crypto } from '@otplib/plugin-crypto-node';
import { base32 } from '@otplib/plugin-base32-scure';
import { generateTOTP } from '@otplib/uri';
import QRCode from 'qrcode';

/** RFC 6238 §4.1 X: the time step, in seconds. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/**
 * Steps of drift accepted either side of the current one (RFC 6238 §5.2
 * recommends at most one backward step for transmission delay; one forward
 * step as well forgives a phone whose clock runs up to 30 s fast).
 */
export const TOTP_DRIFT_STEPS = 1;
const SECRET_BYTES = 20;

const options = { algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, crypto, base32 } as const;

/** A new secret: 20 random bytes, base32 without padding (32 characters). */
export function newTotpSecret(): string {
  return base32.encode(randomBytes(SECRET_BYTES), { padding: false });
}

/** The secret in groups of four for typing into an app by hand ("ABCD EFGH …"); apps ignore the spaces. */
export function groupedSecret(secret: string): string {
  return secret.match(/.{1,4}/g)!.join(' ');
}

/**
 * The key URI an authenticator app reads from the QR code (Google
 * Authenticator's "Key Uri Format": `otpauth://totp/Issuer:account?secret=…&issuer=Issuer`).
 * The issuer is in the label prefix and the `issuer` parameter, as that
 * format recommends; a colon would split the label wrongly, so colons in
 * either become spaces.
 */
export function totpUri(secret: string, issuer: string, account: string): string {
  const clean = (text: string) => text.replaceAll(':', ' ').trim();
  return generateTOTP({ secret, issuer: clean(issuer), label: clean(account), algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
}

/** The URI as a QR code, an SVG document to put straight into a page (no script, no image request). */
export function qrCodeSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
}

/** The RFC 6238 time step (T) of a moment. */
export function timeStepOf(nowSeconds: number): number {
  return Math.floor(nowSeconds / TOTP_PERIOD_SECONDS);
}

/**
 * What a person typed, as six digits: spaces and dashes go ("123 456" is how
 * many apps display a code); anything else that is not six digits is not a code.
 */
export function normaliseTotpCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 32) return undefined;
  const code = input.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(code) ? code : undefined;
}

/**
 * The time step whose code `code` is, within ±TOTP_DRIFT_STEPS of
 * `nowSeconds`, or undefined. Constant-time comparison is otplib's. Says
 * nothing about replay: the caller accepts a step only once.
 */
export function matchingTimeStep(secret: string, code: string, nowSeconds: number): number | undefined {
  const normalised = normaliseTotpCode(code);
  if (normalised === undefined) return undefined;
  const result = verifySync({
    ...options, secret, token: normalised, epoch: Math.floor(nowSeconds), epochTolerance: TOTP_DRIFT_STEPS * TOTP_PERIOD_SECONDS,
  });
  return result.valid ? result.timeStep : undefined;
}

