// Records security events in the audit trail and as pino lines. Callers
// pass identifiers and facts only; never a password, secret or token.
// A failure to record is logged, never turned into a failed request.
import type { Logger } from '../logger.ts';
import type { AuditEventInput, AuditRepository } from '../repositories/audit-repository.ts';

export type AuditType =
  | 'login.success'
  | 'login.failure'
  | 'refresh_token.reuse_detected'
  | 'session.ended'
  | 'grant.revoked'
  | 'user.logged_out_everywhere'
  | 'user.forced_logout';

export interface Audit {
  record(type: AuditType, event?: Omit<AuditEventInput, 'type'>): Promise<void>;
}

export function createAudit(repository: AuditRepository, logger: Logger): Audit {
  return {
    async record(type, event = {}) {
      logger.info({ audit: type, account_id: event.accountId, client_id: event.clientId, ip: event.ip, details: event.details }, 'audit');
      try {
        await repository.append({ type, ...event });
      } catch (err) {
        logger.error({ audit: type, err: { message: (err as Error).message } }, 'audit event not stored');
      }
    },
  };
}
