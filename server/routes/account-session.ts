// Who is signed in at the hosted account pages: oidc-provider's session
// cookie, read the way the account page reads it. Shared by every route
// under /account (the account page, and the self-service pages beside it),
// so each asks the same questions the same way.
//
// Signing in to these pages goes through an authorization request of the
// built-in first-party client (as Keycloak's account console does).
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountService } from '../services/accounts.ts';
import type { Csrf } from '../services/csrf.ts';
import type { Pages } from '../views/pages.ts';
import type { StoredAccount } from '../repositories/account-repository.ts';
import { ACCOUNT_CODE_CHALLENGE } from '../oidc/account-client.ts';
import { ACCOUNT_CLIENT_ID } from '../services/reserved-clients.ts';

export interface AccountSessionDependencies {
  provider: Provider;
  accounts: AccountService;
  csrf: Csrf;
  pages: Pages;
  /** ISSUER's path ('' at the root). */
  prefix: string;
  issuer: string;
}

export interface SignedIn {
  session: InstanceType<Provider['Session']>;
  account: StoredAccount;
}

export interface AccountSession {
  /** The signed-in, active person of this browser, or undefined. */
  current(ctx: Context): Promise<SignedIn | undefined>;
  /** Answers with a redirect that signs the person in, then returns to the account page. */
  signInFirst(ctx: Context): void;
  /**
   * For form posts: the signed-in person with the form's CSRF token checked
   * (bound to their session). Otherwise answers (sign-in redirect, or a 403
   * page) and returns undefined.
   */
  authorised(ctx: Context): Promise<SignedIn | undefined>;
  /** The CSRF token a form of this person's pages carries. */
  csrfFor(who: SignedIn): string;
}

export function accountSession(deps: AccountSessionDependencies): AccountSession {
  const csrfSubject = (who: SignedIn) => `account:${who.session.uid}`;

  const current: AccountSession['current'] = async (ctx) => {
    const session = await deps.provider.Session.get(ctx);
    const account = session.accountId ? await deps.accounts.findActive(session.accountId) : undefined;
    return account && session.uid ? { session, account } : undefined;
  };

  const signInFirst: AccountSession['signInFirst'] = (ctx) => {
    const query = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: `${deps.issuer}/account`,
      code_challenge: ACCOUNT_CODE_CHALLENGE,
      code_challenge_method: 'S256',
    });
    ctx.status = 303;
    ctx.redirect(`${deps.prefix}/auth?${query.toString()}`);
  };

  return {
    current,
    signInFirst,
    async authorised(ctx) {
      const who = await current(ctx);
      if (!who) {
        signInFirst(ctx);
        return undefined;
      }
      const token = (ctx.request.body as Record<string, unknown> | undefined)?.csrf;
      if (!deps.csrf.verify(csrfSubject(who), token)) {
        deps.pages.error(ctx, 'csrf', 403);
        return undefined;
      }
      return who;
    },
    csrfFor: (who) => deps.csrf.tokenFor(csrfSubject(who)),
  };
}
