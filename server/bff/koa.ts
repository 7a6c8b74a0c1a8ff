// The BFF in a Koa app: `app.use(bffMiddleware(bff))`, before any body
// parser (the API proxy streams request bodies as they arrive) and at the
// app's root rather than under koa-mount (which rewrites the request's URL).
//
// Typed by the shape it uses, not by Koa's own types: tollgate/bff depends
// on jose and openid-client only, and its declarations must compile in an
// app without @types/koa (or with another Koa major). Koa's Middleware
// accepts this function as it is.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Bff } from './bff.ts';

/** What the middleware reads and writes of Koa's context. */
export interface KoaLikeContext {
  req: IncomingMessage;
  res: ServerResponse;
  // `| undefined` as @types/koa declares it: apps with exactOptionalPropertyTypes compile too.
  respond?: boolean | undefined;
}

export function bffMiddleware(bff: Bff): (ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<void> {
  return async (ctx, next) => {
    if (await bff.handle(ctx.req, ctx.res)) {
      // Answered on the raw response: Koa must not answer again.
      ctx.respond = false;
      return;
    }
    await next();
  };
}
