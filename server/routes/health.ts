// Liveness and readiness for orchestrators: /healthz answers while the
// process runs; /readyz only while every dependency answers too, and names
// each one's state, so that an operator paged at night sees at once whether
// the database or Redis is down:
//   200 {"status":"ok","checks":{"database":"ok","redis":"ok"}}
//   503 {"status":"unavailable","checks":{"database":"ok","redis":"unavailable"}}, Retry-After: 2
// (`redis` only when REDIS_URL or REDIS_CLUSTER_NODES is set.)
import Router from '@koa/router';

/** Each dependency's check, by the name /readyz reports (repositories/index.ts, readiness). */
export type ReadinessChecks = Readonly<Record<string, () => Promise<void>>>;

/** Each check gets this long: a dependency that does not answer is as down as one that refuses (PostgreSQL's connect timeout is 1.5 s). */
const CHECK_TIMEOUT_MS = 2_000;

export function healthRoutes({ checks, prefix }: { checks: ReadinessChecks; prefix: string }): Router {
  const router = new Router({ prefix });
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    // All at once: the answer comes within one timeout whatever is down.
    const names = Object.keys(checks);
    const outcomes = await Promise.allSettled(names.map((name) => withTimeout(checks[name]!(), CHECK_TIMEOUT_MS)));
    const states = Object.fromEntries(names.map((name, i) => [name, outcomes[i]!.status === 'fulfilled' ? 'ok' : 'unavailable']));
    const ready = outcomes.every((o) => o.status === 'fulfilled');
    if (!ready) {
      ctx.status = 503;
      // As every other 503 of ours (RFC 9110 §10.2.3): when a probe, or a person, may look again.
      ctx.set('Retry-After', '2');
    }
    ctx.body = { status: ready ? 'ok' : 'unavailable', checks: states };
  });
  return router;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms); }),
  ]).finally(() => clearTimeout(timer));
}
