// Liveness and readiness for orchestrators: /healthz answers while the
// process runs; /readyz only while the database answers too.
import Router from '@koa/router';

export function healthRoutes({ ping, prefix }: { ping: () => Promise<void>; prefix: string }): Router {
  const router = new Router({ prefix });
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await withTimeout(ping(), 2_000);
      ctx.body = { status: 'ok', database: 'ok' };
    } catch {
      ctx.status = 503;
      // As every other 503 of ours (RFC 9110 §10.2.3): when a probe, or a person, may look again.
      ctx.set('Retry-After', '2');
      ctx.body = { status: 'unavailable', database: 'unreachable' };
    }
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
