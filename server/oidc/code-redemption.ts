// An authorization code is spent by the exchange that succeeds, not by the
// first one that tries. The library consumes the code before it stores the
// tokens (lib/actions/grants/authorization_code.js upstream), so a fault in
// between (the refresh token's insert, PostgreSQL restarting, Redis holding
// the code while PostgreSQL holds the tokens) answered 503 with the code
// already gone: the client that retried as told got invalid_grant, and the
// person had to sign in again.
//
// Here the adapter only notes the code (codeAdapter in oidc/adapter.ts) and
// this provider middleware consumes it once the response is a success:
//  - the winner of concurrent exchanges is still the one conditional consume
//    (UPDATE ... WHERE consumed_at IS NULL, or the Redis script): a loser's
//    refresh token is deleted and it answers invalid_grant, as before;
//  - a failed exchange deletes the refresh token it may have stored, and
//    leaves the code as it was.
// A crash between storing the refresh token and consuming the code leaves
// the code unspent (the client may exchange it again) and an orphan refresh
// token nobody received, which expires; never a spent code without tokens.
import type { Middleware } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import { isUnavailable } from '../repositories/unavailable.ts';
import type { Logger } from '../logger.ts';
import { takeFromContext } from './request-scope.ts';
import { markStorageFault } from './storage-faults.ts';

/** Request-scope keys: the code this exchange redeems, and the refresh token it stored. */
export const REDEEMING_CODE = 'AuthorizationCode:redeeming';
export const ISSUED_REFRESH_TOKEN = 'RefreshToken:issued';

/** Provider middleware (`provider.use`), inside answerStorageFaults so that a fault here is answered 503. */
export function settleCodeRedemptions(deps: { oidcModels: OidcModelRepository; logger: Logger }): Middleware {
  const forget = async (refreshTokenId: string | undefined) => {
    if (refreshTokenId === undefined) return;
    // Best effort: if storage is down, the orphan expires (or is revoked with its grant).
    await deps.oidcModels.destroy('RefreshToken', refreshTokenId).catch((err: Error) => {
      // Said, not thrown: the answer stands. Never the token's id (it is the token).
      deps.logger.warn({ err: { message: err.message } }, 'an undelivered refresh token could not be deleted; it expires on its own');
    });
  };

  return async (ctx, next) => {
    await next();
    const code = takeFromContext<string>(ctx, REDEEMING_CODE)?.value;
    if (code === undefined) return;
    const issued = takeFromContext<string>(ctx, ISSUED_REFRESH_TOKEN)?.value;
    if (ctx.status !== 200) return forget(issued);

    let consumed: boolean;
    try {
      consumed = await deps.oidcModels.consume('AuthorizationCode', code);
    } catch (err) {
      await forget(issued);
      if (!isUnavailable(err)) throw err;
      markStorageFault(ctx as KoaContextWithOIDC, err as Error, deps.logger);
      return;
    }
    if (consumed) return;
    // A concurrent exchange of the same code won: what this one issued goes undelivered.
    await forget(issued);
    ctx.status = 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'invalid_grant', error_description: 'grant request is invalid' };
  };
}
