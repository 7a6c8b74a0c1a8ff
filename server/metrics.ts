// Prometheus metrics (prom-client). This module owns the registry and every
// metric's definition; the code that sees an event calls one method here
// (oidc/events.ts, services/audit.ts, services/janitor.ts, the throttles,
// the request log), so no counter is declared anywhere else.
//
// Every label has a bounded set of values: a route is oidc-provider's route
// name or one of our routers' patterns (never a raw path), a grant type is
// one the provider supports, a result or method one of a few words. No
// client id, account id or address is ever a label: each would make a new
// time series per caller (Prometheus' "label cardinality" rule).
//
// Served on their own port (METRICS_PORT, serveMetrics below), never on the
// public one: the numbers describe traffic and outages, which is nobody's
// business outside the operator's network. docs/observability.md lists them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stat } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { listen } from './listen.ts';
import type { MailKind } from './mail/templates.ts';

/** What the gauges read when scraped (nothing is polled between scrapes). */
export interface MetricSources {
  /** PostgreSQL's connection pool; absent for the embedded database (one connection, no pool). */
  databasePool?: () => { total: number; idle: number; waiting: number };
  /** Whether the Redis client is connected; absent when no Redis is configured. */
  redisReady?: () => boolean;
  /** The signing key file: rewritten only when keys are generated or rotated, so its mtime is the current keys' age. */
  signingKeysFile: string;
}

export type SignInResult = 'success' | 'failure';
export type ThrottledKind = 'login' | 'client_authentication';
export type JanitorKind = 'oidc_models' | 'login_counters' | 'revoked_tokens' | 'session_devices' | 'audit_events' | 'account_tokens' | 'webauthn_challenges';

export interface Metrics {
  readonly registry: Registry;
  /** One answered request: `route` a bounded name (middleware/koa-request-log.ts, routeOf). */
  request(route: string, status: number, seconds: number): void;
  /** A successful token response at /token. */
  tokenIssued(grantType: string): void;
  /** A refresh token rotated away (consumed) by a refresh. */
  refreshRotated(): void;
  /** An already-used refresh token presented again: its family was revoked (RFC 9700 §4.14.2). */
  refreshReuseDetected(): void;
  signIn(result: SignInResult, method: string): void;
  /** A request refused (429) by a throttle. */
  throttled(kind: ThrottledKind): void;
  backchannelLogout(result: 'success' | 'error'): void;
  janitorPurged(kind: JanitorKind, rows: number): void;
  /** One outcome of an outgoing message (mail/outbox.ts): sent, retried (a failed try, another to come) or failed (refused, given up or dropped). */
  mailSent(kind: MailKind, result: MailResult): void;
}

export type MailResult = 'sent' | 'retried' | 'failed';

/** Seconds; from a cached JWKS answer (~0.1 ms) to a request that waited on an outage's timeout (~2 s). */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Sign-in methods the trail can name; anything else (a bug) is counted as `other`, never as a new series. */
const SIGN_IN_METHODS = new Set(['password', 'passkey', 'federated']);

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const requests = new Histogram({
    name: 'tollgate_http_request_duration_seconds',
    help: 'Requests answered, by route (a bounded name, never the path) and status: latency histogram; its _count is the request count.',
    labelNames: ['route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const tokens = new Counter({
    name: 'tollgate_tokens_issued_total',
    help: 'Successful token responses at the token endpoint, by grant type.',
    labelNames: ['grant_type'] as const,
    registers,
  });
  const rotations = new Counter({
    name: 'tollgate_refresh_token_rotations_total',
    help: 'Refresh tokens rotated away (each refresh consumes the presented token and issues a new one).',
    registers,
  });
  const reuses = new Counter({
    name: 'tollgate_refresh_token_reuse_detected_total',
    help: 'Already-used refresh tokens presented again; each revoked its whole token family (possible theft).',
    registers,
  });
  const signIns = new Counter({
    name: 'tollgate_sign_ins_total',
    help: 'Sign-ins on the hosted login page, by result (success, failure) and method.',
    labelNames: ['result', 'method'] as const,
    registers,
  });
  const throttled = new Counter({
    name: 'tollgate_throttled_attempts_total',
    help: 'Requests refused with 429 by a brute-force throttle: login (the login and sign-up forms) or client_authentication (token, introspection, revocation).',
    labelNames: ['kind'] as const,
    registers,
  });
  const backchannel = new Counter({
    name: 'tollgate_backchannel_logout_deliveries_total',
    help: 'Back-channel logout tokens sent to clients, by result (success, error).',
    labelNames: ['result'] as const,
    registers,
  });
  const purged = new Counter({
    name: 'tollgate_janitor_purged_rows_total',
    help: 'Expired rows removed by the janitor, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const mail = new Counter({
    name: 'tollgate_mail_sent_total',
    help: 'Outgoing messages by kind and result: sent, retried (a failed try with another to come), failed (refused for good, given up after about an hour, or dropped from a full queue).',
    labelNames: ['kind', 'result'] as const,
    registers,
  });

  new Gauge({
    name: 'tollgate_database_pool_connections_in_use',
    help: 'PostgreSQL connections checked out of the pool (0 with the embedded database).',
    registers,
    collect() {
      const pool = sources.databasePool?.();
      this.set(pool ? pool.total - pool.idle : 0);
    },
  });
  new Gauge({
    name: 'tollgate_database_pool_waiting',
    help: 'Queries waiting for a free PostgreSQL connection (0 with the embedded database).',
    registers,
    collect() {
      this.set(sources.databasePool?.().waiting ?? 0);
    },
  });
  if (sources.redisReady) {
    const ready = sources.redisReady;
    // Only when Redis is configured: a permanent 0 would read as an outage.
    new Gauge({
      name: 'tollgate_redis_up',
      help: '1 while the Redis client (server or cluster) is connected, else 0.',
      registers,
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
  }
  new Gauge({
    name: 'tollgate_signing_key_age_seconds',
    help: 'Seconds since the signing keys in use were generated or last rotated (`tollgate keys rotate`).',
    registers,
    async collect() {
      try {
        this.set((Date.now() - (await stat(sources.signingKeysFile)).mtimeMs) / 1000);
      } catch {
        // The key file is read at start, so this is a passing fault (a volume hiccup): keep the last value.
      }
    },
  });

  return {
    registry,
    request(route, status, seconds) {
      requests.labels(route, String(status)).observe(seconds);
    },
    tokenIssued(grantType) {
      tokens.labels(grantType).inc();
    },
    refreshRotated() {
      rotations.inc();
    },
    refreshReuseDetected() {
      reuses.inc();
    },
    signIn(result, method) {
      signIns.labels(result, SIGN_IN_METHODS.has(method) ? method : 'other').inc();
    },
    throttled(kind) {
      throttled.labels(kind).inc();
    },
    backchannelLogout(result) {
      backchannel.labels(result).inc();
    },
    janitorPurged(kind, rows) {
      if (rows > 0) purged.labels(kind).inc(rows);
    },
    mailSent(kind, result) {
      mail.labels(kind, result).inc();
    },
  };
}

/**
 * Serves GET /metrics (Prometheus text format) on its own port, bound like
 * the public one (HOST), with Node's default process metrics added. Nothing
 * else is answered there. The server does not keep the process alive: it
 * goes when the public server has drained.
 */
export async function serveMetrics(metrics: Metrics, where: { port: number; host?: string }, logger: Logger): Promise<Server> {
  collectDefaultMetrics({ register: metrics.registry });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    metrics.registry.metrics().then((body) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, (err: Error) => {
      logger.error({ err: { message: err.message } }, 'metrics collection failed');
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '2' }).end('metrics collection failed\n');
    });
  });
  // As the public port: a busy or privileged one is one clear line (PortUnavailableError).
  await listen(server, where, 'METRICS_PORT');
  server.unref();
  logger.info({ metrics_port: (server.address() as AddressInfo).port }, 'metrics listening');
  return server;
}
