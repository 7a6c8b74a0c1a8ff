// The BFF in a Koa app: `app.use(bffMiddleware(bff))`, before any body
// parser (the API proxy streams request bodies as they arrive) and at the
// app's root rather than under koa-mount (which rewrites the request's URL).
import type { Middleware } from 'koa';
import type { Bff } from './bff.ts';

export function bffMiddleware(bff: Bff): Middleware {
  return async (ctx, next) => {
    if (await bff.handle(ctx.req, ctx.res)) {
      // Answered on the raw response: Koa must not answer again.
      ctx.respond = false;
      return;
    }
    await next();
  };
}
