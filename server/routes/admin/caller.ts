// Who is calling the admin API, and the audit record of what they changed.
import type { Audit, AuditType } from '../../services/audit.ts';
import { BearerError, authOf } from '../../resource-server/index.ts';
import type { AdminContext } from './route.ts';

export interface Caller {
  /** The admin token's `sub`: a user id, or the client id of a client_credentials token. */
  actor: string;
  /** The client the token was issued to. */
  clientId: string;
  /**
   * An administrator who belongs to an organisation manages that
   * organisation's users and nothing else (no clients, no audit trail of
   * others): the seed design's "an admin of a customer".
   */
  organisation?: string;
}

export function callerOf(ctx: AdminContext): Caller {
  const { claims } = authOf(ctx);
  const { organisation } = ctx.state;
  return { actor: claims.sub, clientId: claims.client_id, ...(organisation ? { organisation } : {}) };
}

/** Operations on the whole server (clients, the audit trail) are not for an organisation's administrator. */
export function requireOperator(ctx: AdminContext): Caller {
  const caller = callerOf(ctx);
  if (caller.organisation) {
    throw new BearerError('insufficient_scope', `an administrator of the organisation "${caller.organisation}" manages its users only`);
  }
  return caller;
}

/** Records an admin change: who (actor), on what, before and after; views only, never a secret or hash. */
export function recordChange(
  audit: Audit,
  ctx: AdminContext,
  type: AuditType,
  event: { accountId?: string; clientId?: string; details?: Record<string, unknown> },
): Promise<void> {
  const caller = callerOf(ctx);
  return audit.record(type, {
    accountId: event.accountId,
    clientId: event.clientId,
    actor: caller.actor,
    ip: ctx.ip,
    userAgent: ctx.get('user-agent') || undefined,
    details: { ...event.details, via_client: caller.clientId },
  });
}
