// Whether an error means "the database or Redis cannot be reached right now"
// (a fault that passes, answered 503 and retried) rather than a bug (500).
// The one place that knows the error shapes of pg, Prisma's driver adapter
// and node-redis. (node-redis names its errors plain `Error`: only the message tells.)

/** Connection-level errors: refused, reset, timed out, server shutting down. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** PostgreSQL SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, crash, cannot connect now). */
const POSTGRES_STATES = /^(08|57P0[1-3])/;
/** Prisma: cannot reach the server, timed out, server closed the connection, no pooled connection in time. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/** node-redis: the client is closed, offline (no offline queue), or its socket is gone. */
const REDIS_ERRORS = new Set(['ClientClosedError', 'ClientOfflineError', 'SocketClosedUnexpectedlyError', 'ConnectionTimeoutError', 'SocketTimeoutError', 'ReconnectStrategyError']);
const MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|The client is offline|The client is closed|Socket closed unexpectedly|Connection timeout|Cannot use a pool after calling end/i;
/**
 * Redis Cluster's replies while a master is down or a slot is moving (no
 * quorum, a slot not served, a failover or a dataset loading), and
 * node-redis's when no seed node answers or redirections never settle: all
 * pass once the cluster heals.
 */
const REDIS_CLUSTER_REPLIES = /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING) /;
const REDIS_CLUSTER_ERRORS = /^(All the root nodes are unavailable|Too many Cluster redirections)/;

export function isUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; originalCode?: unknown };
  if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || POSTGRES_STATES.test(e.code) || PRISMA_CODES.has(e.code))) return true;
  if (typeof e.originalCode === 'string' && POSTGRES_STATES.test(e.originalCode)) return true;
  if (typeof e.name === 'string' && REDIS_ERRORS.has(e.name)) return true;
  if (typeof e.message === 'string' && (MESSAGES.test(e.message) || REDIS_CLUSTER_REPLIES.test(e.message) || REDIS_CLUSTER_ERRORS.test(e.message))) return true;
  return isUnavailable(e.cause, depth + 1);
}
