// What an operator sees of a person's second factors and how they reset them
// (issue 16, point 4): the admin API (routes/admin/users.ts) and the CLI
// (`users reset-mfa`) both call these, so both report and do the same.
// Never key material: no TOTP secret, no recovery code or digest, no public key.
import type { Audit } from '../services/audit.ts';
import type { SessionService, ForcedLogout } from '../services/sessions.ts';
import type { MfaAuditContext, MfaService } from './mfa.ts';
import type { Passkeys } from './passkeys.ts';

/** GET /admin/v1/users/{id}/mfa (RFC 7591-style snake_case, as the rest of the admin API). */
export interface FactorOverview {
  totp: boolean;
  totp_confirmed_at: string | null;
  totp_last_used_at: string | null;
  /** Unused recovery codes; 0 when none were ever made (or after a reset). */
  recovery_codes_remaining: number;
  passkey_count: number;
  passkeys: Array<{ id: string; name: string; created_at: string; last_used_at: string | null; device_type: string; backed_up: boolean }>;
}

export interface FactorReset {
  totp: boolean;
  recovery_codes: boolean;
  /** How many passkeys were removed. */
  passkeys: number;
  /** The forced logout that followed: what ended. */
  ended: ForcedLogout;
}

type Services = { mfa: Pick<MfaService, 'factorsOf' | 'resetFactors'>; passkeys: Pick<Passkeys, 'list' | 'removeAll'> };

export async function factorOverview({ mfa, passkeys }: Services, accountId: string): Promise<FactorOverview> {
  const [factors, keys] = await Promise.all([mfa.factorsOf(accountId), passkeys.list(accountId)]);
  const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;
  return {
    totp: factors.totp !== null,
    totp_confirmed_at: iso(factors.totp?.confirmedAt),
    totp_last_used_at: iso(factors.totp?.lastUsedAt),
    recovery_codes_remaining: factors.recoveryCodes?.remaining ?? 0,
    passkey_count: keys.length,
    passkeys: keys.map((k) => ({
      id: k.id, name: k.name, created_at: k.createdAt.toISOString(), last_used_at: iso(k.lastUsedAt), device_type: k.deviceType, backed_up: k.backedUp,
    })),
  };
}

/**
 * The operator's reset, for a person who lost their authenticator (or whose
 * factors someone else may hold): TOTP, recovery codes and every passkey go,
 * audited as one `mfa.factors_reset` with the operator as actor and the
 * passkey count; then everything the person is signed in with ends (the
 * forced logout, audited as `user.forced_logout`), so that a session opened
 * with the old factors cannot outlive them. Their next sign-in is with the
 * password alone, or an enrolment where MFA_POLICY requires one.
 */
export async function resetAllFactors(
  { mfa, passkeys, sessions, audit }: Services & { sessions: Pick<SessionService, 'endEverything'>; audit: Pick<Audit, 'record'> },
  accountId: string,
  context: MfaAuditContext & { by: string },
): Promise<FactorReset> {
  const { by, ...who } = context;
  const removedPasskeys = await passkeys.removeAll(accountId, who);
  const { totp, recoveryCodes } = await mfa.resetFactors(accountId, who, { passkeys: removedPasskeys, by });
  const ended = await sessions.endEverything(accountId);
  await audit.record('user.forced_logout', { accountId, ...who, details: { ...ended, by, reason: 'mfa reset' } });
  return { totp, recovery_codes: recoveryCodes, passkeys: removedPasskeys, ended };
}
