// The second factors' service (issue 16): TOTP enrolment and verification,
// recovery codes, the list of an account's factors and the operator's reset.
// No pages, no sign-in steps: the routes call this and decide what a result
// means for the interaction (throttle, audit of failures, messages).
//
// What it guarantees (docs/mfa.md):
// - a TOTP secret counts as a factor only once a correct code confirmed it;
//   re-enrolling keeps the old one working until the new one is confirmed;
// - a code is accepted within ±1 step (30 s) of now, and once: the step of
//   each accepted code is stored and only a later one is accepted, in one
//   UPDATE, so two submissions of one code at once give exactly one `ok`;
// - secrets are stored as JWEs under KEYS_DIR's secret key, bound to their
//   account; recovery codes only as digests, each usable once.
import { NotFoundError } from '../errors.ts';
import type { SecretBox } from '../federation/secret-box.ts';
import type { TotpFactorRepository } from '../repositories/totp-factor-repository.ts';
import type { RecoveryCodeRepository } from '../repositories/recovery-code-repository.ts';
import type { Audit } from '../services/audit.ts';
import { groupedSecret, matchingTimeStep, newTotpSecret, normaliseTotpCode, qrCodeSvg, totpUri } from './totp.ts';
import { newRecoveryCodes, normaliseRecoveryCode, recoveryCodeDigest } from './recovery-codes.ts';

/** The secret box's purpose for TOTP secrets: a ciphertext of another purpose does not decrypt as one. */
const TOTP_SECRET_PURPOSE = 'mfa.totp';

/** What an enrolment shows the person, once: the QR code, and the same secret to type by hand. */
export interface TotpEnrolment {
  /** The base32 secret (32 characters, no padding). */
  readonly secret: string;
  /** The secret in groups of four, for typing into an app by hand. */
  readonly groupedSecret: string;
  /** The `otpauth://totp/…` key URI the QR code holds. */
  readonly uri: string;
  /** The QR code of `uri` as an SVG document (viewBox only: size it with CSS), safe to embed as is. */
  readonly svg: string;
}

/**
 * - `ok`: the code is right and had not been used; it is now.
 * - `invalid`: not the code of the confirmed secret within ±1 step, malformed, or the account has no confirmed TOTP factor.
 * - `replayed`: the right code, but its step (or a later one) was accepted already.
 */
export type TotpVerification = 'ok' | 'invalid' | 'replayed';

/**
 * - `ok`: the pending secret is now the account's TOTP factor (replacing any previous one).
 * - `invalid`: not the pending secret's code within ±1 step, or malformed.
 * - `no_enrolment`: no enrolment is pending, or it is older than the pending lifetime (start again).
 */
export type TotpConfirmation = 'ok' | 'invalid' | 'no_enrolment';

export type RecoveryCodeUse = { readonly ok: true; readonly remaining: number } | { readonly ok: false };

/** An account's second factors, for the account page, the sign-in step and the policy. */
export interface MfaFactors {
  /** The confirmed TOTP factor, or null. */
  readonly totp: { readonly confirmedAt: Date; readonly lastUsedAt: Date | null } | null;
  /** An enrolment started and not confirmed (not a factor), or null. */
  readonly pendingTotp: { readonly since: Date } | null;
  /** The recovery codes (null when none were ever generated, or after a reset). */
  readonly recoveryCodes: { readonly remaining: number; readonly createdAt: Date; readonly lastUsedAt: Date | null } | null;
}

/** Who asked, for the audit trail: an admin's `sub` as `actor`, the person's IP. */
export interface MfaAuditContext {
  readonly actor?: string;
  readonly ip?: string;
  readonly userAgent?: string;
}

export interface MfaService {
  /**
   * Starts (or restarts) a TOTP enrolment: a new secret, stored encrypted as
   * pending. It is not a factor until `confirmTotp` gets a correct code; an
   * already confirmed factor keeps working until then. Throws NotFoundError
   * when there is no such account. `account.email` becomes the label the app shows.
   */
  startTotpEnrolment(account: { readonly id: string; readonly email: string }): Promise<TotpEnrolment>;
  /**
   * The enrolment started and not yet confirmed, shown again (the same secret
   * and QR code): for the page that answers a wrong code, since the person
   * has scanned this secret already. Undefined when none is pending or it is
   * older than the pending lifetime (`confirmTotp` would say `no_enrolment`).
   */
  pendingTotpEnrolment(account: { readonly id: string; readonly email: string }): Promise<TotpEnrolment | undefined>;
  /**
   * Confirms the pending enrolment with a code from the app. On `ok` the code's
   * step counts as used (it cannot also pass `verifyTotp`). Audited as
   * `mfa.totp_enabled` (with `replaced` when it took the place of one).
   * Generating the first recovery codes is the caller's next step
   * (`regenerateRecoveryCodes`), so that the page can show them once.
   */
  confirmTotp(accountId: string, code: unknown, context?: MfaAuditContext): Promise<TotpConfirmation>;
  /**
   * Checks a code against the confirmed factor (the sign-in's second step,
   * a step-up). Any input is safe: a non-string or malformed code is
   * `invalid`. The caller counts `invalid` and `replayed` toward the login
   * throttle. Throws UpstreamSecretKeyError (status 500) only when KEYS_DIR's
   * secret key file cannot decrypt the stored secret (an operator's problem).
   */
  verifyTotp(accountId: string, code: unknown): Promise<TotpVerification>;
  /** Removes the TOTP factor and any pending enrolment; whether there was one. Recovery codes stay (see resetFactors). Audited as `mfa.totp_removed`. */
  removeTotp(accountId: string, context?: MfaAuditContext): Promise<boolean>;
  /**
   * Ten new recovery codes, to show once (grouped `XXXX-XXXX-XXXX-XXXX`);
   * the previous ones are void from now. Throws NotFoundError when there is
   * no such account. Audited as `mfa.recovery_codes_generated`.
   */
  regenerateRecoveryCodes(accountId: string, context?: MfaAuditContext): Promise<string[]>;
  /**
   * Uses a recovery code: case, spaces and dashes do not matter. Each code
   * works once (also when submitted twice at once). On success, how many
   * remain; audited as `mfa.recovery_code_used` with that number.
   */
  useRecoveryCode(accountId: string, code: unknown, context?: MfaAuditContext): Promise<RecoveryCodeUse>;
  /** The account's factors (an unknown account has none). */
  factorsOf(accountId: string): Promise<MfaFactors>;
  /**
   * The operator's reset: removes the TOTP factor (and any pending
   * enrolment) and the recovery codes. Ending the person's sessions is the
   * caller's part. Audited as `mfa.factors_reset` with what was removed;
   * `alsoRemoved` adds what the caller removed with them (the passkeys,
   * mfa/operator.ts) to that one event.
   */
  resetFactors(accountId: string, context?: MfaAuditContext, alsoRemoved?: Record<string, unknown>): Promise<{ totp: boolean; recoveryCodes: boolean }>;
}

export interface MfaOptions {
  readonly totpFactors: TotpFactorRepository;
  readonly recoveryCodes: RecoveryCodeRepository;
  readonly secrets: Pick<SecretBox, 'encryptBound' | 'decryptBound'>;
  /** The name authenticator apps show for the account (the key URI's issuer), e.g. the issuer's host. */
  readonly issuerName: string;
  readonly audit?: Pick<Audit, 'record'>;
  /** How long an enrolment may wait for its first code (default 15 minutes). */
  readonly pendingTtlSeconds?: number;
  /** The clock TOTP codes are checked against, in milliseconds (tests move it). */
  readonly now?: () => number;
}

const PENDING_TTL_SECONDS = 15 * 60;

export function createMfaService(options: MfaOptions): MfaService {
  const { totpFactors, recoveryCodes, secrets, issuerName, audit } = options;
  const pendingTtl = options.pendingTtlSeconds ?? PENDING_TTL_SECONDS;
  const nowSeconds = () => (options.now ?? Date.now)() / 1000;
  const decrypt = (accountId: string, ciphertext: string) => secrets.decryptBound(TOTP_SECRET_PURPOSE, accountId, ciphertext);
  const enrolmentOf = async (account: { readonly email: string }, secret: string): Promise<TotpEnrolment> => {
    const uri = totpUri(secret, issuerName, account.email);
    return { secret, groupedSecret: groupedSecret(secret), uri, svg: await qrCodeSvg(uri) };
  };
  /** Wall-clock time, as the database stamped pendingSince (`now` is the clock codes are checked against). */
  const pendingLive = (since: Date | null): since is Date => since !== null && since.getTime() > Date.now() - pendingTtl * 1000;
  const record = (type: Parameters<Audit['record']>[0], accountId: string, context: MfaAuditContext | undefined, details?: Record<string, unknown>) =>
    audit?.record(type, { accountId, ...context, ...(details ? { details } : {}) });

  return {
    async startTotpEnrolment(account) {
      const secret = newTotpSecret();
      const stored = await totpFactors.startPending(account.id, await secrets.encryptBound(TOTP_SECRET_PURPOSE, account.id, secret));
      if (!stored) throw new NotFoundError('no such account');
      return enrolmentOf(account, secret);
    },

    async pendingTotpEnrolment(account) {
      const factor = await totpFactors.find(account.id);
      if (!factor?.pendingSecretEncrypted || !pendingLive(factor.pendingSince)) return undefined;
      return enrolmentOf(account, await decrypt(account.id, factor.pendingSecretEncrypted));
    },

    async confirmTotp(accountId, code, context) {
      const factor = await totpFactors.find(accountId);
      const pending = factor?.pendingSecretEncrypted;
      if (!pending || !pendingLive(factor.pendingSince)) return 'no_enrolment';
      const typed = normaliseTotpCode(code);
      if (typed === undefined) return 'invalid';
      const step = matchingTimeStep(await decrypt(accountId, pending), typed, nowSeconds());
      if (step === undefined) return 'invalid';
      // A newer enrolment started meanwhile, or this one expired or was confirmed by a concurrent request.
      if (!await totpFactors.confirm(accountId, pending, step, pendingTtl)) return 'no_enrolment';
      await record('mfa.totp_enabled', accountId, context, { replaced: factor.secretEncrypted !== null });
      return 'ok';
    },

    async verifyTotp(accountId, code) {
      const typed = normaliseTotpCode(code);
      if (typed === undefined || typeof accountId !== 'string') return 'invalid';
      const factor = await totpFactors.find(accountId);
      if (!factor?.secretEncrypted) return 'invalid';
      const step = matchingTimeStep(await decrypt(accountId, factor.secretEncrypted), typed, nowSeconds());
      if (step === undefined) return 'invalid';
      // The replay rule is decided by the database, atomically: only a later step than the last accepted.
      return await totpFactors.accept(accountId, factor.secretEncrypted, step) ? 'ok' : 'replayed';
    },

    async removeTotp(accountId, context) {
      const removed = await totpFactors.remove(accountId);
      if (removed) await record('mfa.totp_removed', accountId, context);
      return removed;
    },

    async regenerateRecoveryCodes(accountId, context) {
      const codes = newRecoveryCodes();
      const digests = codes.map((code) => recoveryCodeDigest(accountId, normaliseRecoveryCode(code)!));
      if (!await recoveryCodes.replace(accountId, digests)) throw new NotFoundError('no such account');
      await record('mfa.recovery_codes_generated', accountId, context, { count: codes.length });
      return codes;
    },

    async useRecoveryCode(accountId, code, context) {
      const typed = normaliseRecoveryCode(code);
      if (typed === undefined || typeof accountId !== 'string') return { ok: false };
      const remaining = await recoveryCodes.use(accountId, recoveryCodeDigest(accountId, typed));
      if (remaining === undefined) return { ok: false };
      await record('mfa.recovery_code_used', accountId, context, { remaining });
      return { ok: true, remaining };
    },

    async factorsOf(accountId) {
      const [factor, codes] = await Promise.all([totpFactors.find(accountId), recoveryCodes.find(accountId)]);
      return {
        totp: factor?.secretEncrypted && factor.confirmedAt ? { confirmedAt: factor.confirmedAt, lastUsedAt: factor.lastUsedAt } : null,
        pendingTotp: factor?.pendingSecretEncrypted && factor.pendingSince ? { since: factor.pendingSince } : null,
        recoveryCodes: codes ? { remaining: codes.remaining, createdAt: codes.createdAt, lastUsedAt: codes.lastUsedAt } : null,
      };
    },

    async resetFactors(accountId, context, alsoRemoved) {
      const [totp, codes] = await Promise.all([totpFactors.remove(accountId), recoveryCodes.remove(accountId)]);
      await record('mfa.factors_reset', accountId, context, { totp, recovery_codes: codes, ...alsoRemoved });
      return { totp, recoveryCodes: codes };
    },
  };
}
