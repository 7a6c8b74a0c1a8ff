// Wraps a body parser: a body that cannot be read (malformed JSON, a bad
// encoding, broken compression) is the client's error, 400, never a 500.
import type Koa from 'koa';
import { TollgateError, ValidationError } from '../errors.ts';

export function readableBody(parser: Koa.Middleware): Koa.Middleware {
  return async (ctx, next) => {
    let parsed = false;
    try {
      await parser(ctx, async () => { parsed = true; });
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 413) throw new TollgateError('request_too_large', 'request entity too large', 413);
      if (status === 415) throw new TollgateError('unsupported_media_type', 'the request body encoding is not supported', 415);
      throw new ValidationError('the request body could not be read');
    }
    if (parsed) await next();
  };
}

