// Records security events in the audit trail and as pino lines, and reads
// the trail back one page at a time (the admin API). Callers pass
// identifiers and facts only; never a password, secret or token. A failure
// to record is logged, never turned into a failed request. Sign-ins and
// refresh token reuse are counted in the metrics here, as they are recorded.
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { AuditEvent, AuditEventInput, AuditFilter, AuditRepository } from '../repositories/audit-repository.ts';

/** Every event type the trail holds. */
export const AUDIT_TYPES = [
  'login.success', 'login.failure', 'logout', 'consent.granted', 'grant.revoked', 'refresh_token.reuse_detected',
  'session.ended', 'user.logged_out_everywhere', 'user.forced_logout',
  'admin.client.created', 'admin.client.updated', 'admin.client.secret_rotated', 'admin.client.deleted',
  'admin.user.created', 'admin.user.updated', 'admin.user.password_reset', 'admin.session.ended', 'admin.grant.revoked',
  'password.reset_requested',
  'password.reset',
  'email.verification_sent', 'email.verified',
  'profile.updated', 'password.changed', 'email.changed', 'user.deleted',
  'admin.provider.created', 'admin.provider.updated', 'admin.provider.deleted',
  'admin.api.created', 'admin.api.updated', 'admin.api.deleted',
  'identity.linked', 'identity.unlinked', 'identity.link_refused',
  'mfa.totp_enabled', 'mfa.totp_removed', 'mfa.recovery_codes_generated', 'mfa.recovery_code_used', 'mfa.factors_reset',
  'mfa.challenge_passed', 'mfa.challenge_failed',
  'passkey.registered', 'passkey.removed', 'passkey.counter_regression', 'passkey.renamed',
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

export interface Audit {
  record(type: AuditType, event?: Omit<AuditEventInput, 'type'>): Promise<void>;
  /** One page of the trail, newest first; `nextBefore` asks for the next page (null on the last). */
  page(filter: AuditFilter & { limit: number }): Promise<{ events: AuditEvent[]; nextBefore: string | null }>;
}

/** The metric each audit event moves, if any. */
function count(metrics: Metrics, type: AuditType, event: Omit<AuditEventInput, 'type'>): void {
  if (type === 'login.success' || type === 'login.failure') {
    // The login form is the only way to sign in today; a future method records its name in details.method.
    const method = event.details?.method;
    metrics.signIn(type === 'login.success' ? 'success' : 'failure', typeof method === 'string' ? method : 'password');
  } else if (type === 'refresh_token.reuse_detected') {
    metrics.refreshReuseDetected();
  }
}

export function createAudit(repository: AuditRepository, logger: Logger, metrics?: Metrics): Audit {
  return {
    async record(type, event = {}) {
      if (metrics) count(metrics, type, event);
      logger.info({ audit: type, account_id: event.accountId, client_id: event.clientId, actor: event.actor, ip: event.ip, details: event.details }, 'audit');
      try {
        await repository.append({ type, ...event });
      } catch (err) {
        logger.error({ audit: type, err: { message: (err as Error).message } }, 'audit event not stored');
      }
    },
    async page(filter) {
      const events = await repository.list(filter);
      // A full page may have more after it; a short one is the last.
      return { events, nextBefore: events.length === filter.limit ? events.at(-1)!.id : null };
    },
  };
}
