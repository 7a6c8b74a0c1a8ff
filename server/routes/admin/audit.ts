// /admin/v1/audit-events: the audit trail, newest first, filtered by user,
// client, type and time, one page at a time.
import { z } from 'zod';
import { AUDIT_TYPES, type Audit } from '../../services/audit.ts';
import { requireOperator } from './caller.ts';
import { queryText, route, type AdminRoute } from './route.ts';
import { ref } from './schemas.ts';

/** PostgreSQL's bigint, the id column's type. */
const MAX_EVENT_ID = 2n ** 63n - 1n;
/** An RFC 3339 time PostgreSQL can compare with (years 1970 to 9999 in UTC). */
const time = z.iso.datetime({ offset: true }).refine((value) => {
  const year = new Date(value).getUTCFullYear();
  return year >= 1970 && year <= 9999;
}, 'must be between 1970 and 9999');

const auditQuery = z.strictObject({
  type: z.enum(AUDIT_TYPES).optional(),
  account_id: queryText(128).optional(),
  client_id: queryText(128).optional(),
  since: time.optional().describe('events at or after this time'),
  until: time.optional().describe('events before this time'),
  before: z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be an event id')
    .refine((id) => !/^[0-9]{1,19}$/.test(id) || BigInt(id) <= MAX_EVENT_ID, 'must be an event id').optional().describe('the next page: events older than this id'),
  limit: z.coerce.number({ error: 'must be a whole number' }).int().min(1).max(1000).default(100),
});

export function auditRoutes(deps: { audit: Audit }): AdminRoute[] {
  return [
    route({
      method: 'get', path: '/audit-events', tag: 'audit', summary: 'Security events, newest first',
      query: auditQuery,
      responses: { 200: { description: 'One page of events', schema: ref('AuditPage') } },
      async handle(ctx, { query }) {
        requireOperator(ctx);
        const { events, nextBefore } = await deps.audit.page({
          type: query.type, accountId: query.account_id, clientId: query.client_id, before: query.before, limit: query.limit,
          since: query.since ? new Date(query.since) : undefined, until: query.until ? new Date(query.until) : undefined,
        });
        ctx.body = {
          items: events.map((e) => ({
            id: e.id, at: e.at, type: e.type, account_id: e.accountId, client_id: e.clientId, actor: e.actor, ip: e.ip, user_agent: e.userAgent, details: e.details,
          })),
          next_before: nextBefore,
        };
      },
    }),
  ];
}
